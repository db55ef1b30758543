"""mmseg_attn.compat: the names of the secure checkpoint glue stay importable
from here, and importing the package installs it once.

The behaviour is tested in tests/test_security/ (one file per module of
mmseg_attn/security/)."""
import copyreg
import warnings

import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn import compat, security
from mmseg_attn.security import unpickler
from tests.test_security.helpers import RunsACommand, runner_like_checkpoint


def test_compat_names_are_the_security_package_names():
    for name in compat.__all__:
        assert getattr(compat, name) is getattr(security, name), name
    # the names of the first release keep working
    for name in ('SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'load_checkpoint_file',
                 'atomic_write_bytes', 'rewrite_trusted_checkpoint', 'setup_atomic_local_writes',
                 'setup_secure_checkpoint_loading'):
        assert name in compat.__all__


def test_import_installed_everything_once():
    assert copyreg.dispatch_table[HistoryBuffer] is not None
    assert CheckpointLoader._schemes[''].__name__ == 'load_from_local'
    assert getattr(CheckpointLoader._get_checkpoint_loader, '_mmseg_attn_secure', False)
    assert LocalBackend.put.__module__ == 'mmseg_attn.security.atomic'
    before = (dict(CheckpointLoader._schemes), CheckpointLoader.__dict__['_get_checkpoint_loader'],
              _secure_loading_state())
    compat.setup_secure_checkpoint_loading()  # idempotent
    loader = CheckpointLoader._get_checkpoint_loader('x.pth')
    assert loader.__name__ == 'load_from_local' and loader._mmseg_attn_secure
    assert CheckpointLoader.__dict__['_get_checkpoint_loader'] is before[1]
    assert _secure_loading_state() == before[2]


def _secure_loading_state():
    """torch's allow-list (torch >= 2.5) or the restricted unpickler (older torch)."""
    if unpickler.installed():
        return 'restricted unpickler'
    return sorted(map(repr, torch.serialization.get_safe_globals()))


def test_torch_without_function_allow_list_keeps_checkpoints_data(monkeypatch, tmp_path):
    """On torch 2.1 - 2.4 (mmcv 2.1.0's prebuilt wheels stop at torch 2.1)
    torch cannot allow-list functions: importing the package makes the
    restricted unpickler torch's weights_only one, without a warning, and
    mmengine's loaders keep refusing pickled code."""
    monkeypatch.delattr(torch.serialization, 'add_safe_globals', raising=False)
    monkeypatch.setattr(torch.serialization, '_weights_only_unpickler',
                        torch.serialization._weights_only_unpickler)  # restored afterwards
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        compat.setup_secure_checkpoint_loading()
    assert unpickler.installed()
    good, evil = str(tmp_path / 'good.pth'), str(tmp_path / 'evil.pth')
    torch.save(runner_like_checkpoint(), good)
    assert CheckpointLoader.load_checkpoint(good)['meta']['iter'] == 3
    marker = tmp_path / 'pwned'
    torch.save(dict(meta=dict(payload=RunsACommand(marker))), evil)
    for load in (CheckpointLoader.load_checkpoint, compat.load_checkpoint_file):
        try:
            load(evil)
        except compat.UnsafeCheckpointError as e:
            assert 'posix.system' in str(e)
        else:
            raise AssertionError('a pickled os.system call was loaded')
    assert not marker.exists()
