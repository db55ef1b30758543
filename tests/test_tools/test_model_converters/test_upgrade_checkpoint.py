"""tools/model_converters/upgrade_checkpoint.py: a trusted legacy checkpoint is
rewritten to load securely; one that cannot be leaves no DST and names the
object that blocks it."""
import copyreg
import datetime
import os.path as osp

import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from tests.test_security.helpers import pickled_globals, runner_like_checkpoint
from tests.utils import REPO_ROOT, load_tool

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'upgrade_checkpoint.py')


def _legacy(path, **extra):
    """A checkpoint as mmengine writes it without mmseg_attn (getattr inside)."""
    reducer = copyreg.dispatch_table.pop(HistoryBuffer)
    try:
        ckpt = runner_like_checkpoint()
        ckpt['meta'].update(extra)
        torch.save(ckpt, str(path))
    finally:
        copyreg.pickle(HistoryBuffer, reducer)
    return str(path)


def _tool():
    return load_tool('tools/model_converters/upgrade_checkpoint.py')


def test_upgrade_needs_trust_and_rewrites(tmp_path, capsys):
    src = _legacy(tmp_path / 'legacy.pth')
    dst = str(tmp_path / 'upgraded.pth')
    tool = _tool()
    assert tool.main([src, dst]) == 2
    assert '--trust' in capsys.readouterr().err and not osp.exists(dst)
    assert tool.main([src, dst, '--trust']) == 0, capsys.readouterr().err
    assert 'builtins.getattr' not in pickled_globals(dst)
    assert CheckpointLoader.load_checkpoint(dst)['meta']['iter'] == 3


def test_upgrade_that_cannot_load_securely_writes_nothing_and_names_the_object(
        tmp_path, capsys):
    src = _legacy(tmp_path / 'legacy.pth', saved_on=datetime.date(2026, 1, 31))
    dst = tmp_path / 'upgraded.pth'
    assert _tool().main([src, str(dst), '--trust']) == 1
    assert not dst.exists() and [p.name for p in tmp_path.iterdir()] == ['legacy.pth']
    message = capsys.readouterr().err
    assert str(dst) in message and "checkpoint['meta']['saved_on'] is a datetime.date" in message
    assert 'remove them' in message
    assert 'upgrade_checkpoint.py' not in message
