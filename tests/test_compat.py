"""mmseg_attn.compat: the names of the secure checkpoint glue stay importable
from here, and importing the package installs it once.

The behaviour is tested in tests/test_security/ (one file per module of
mmseg_attn/security/)."""
import copyreg

import pytest
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn import compat, security


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
              list(torch.serialization.get_safe_globals()))
    compat.setup_secure_checkpoint_loading()  # idempotent
    loader = CheckpointLoader._get_checkpoint_loader('x.pth')
    assert loader.__name__ == 'load_from_local' and loader._mmseg_attn_secure
    assert CheckpointLoader.__dict__['_get_checkpoint_loader'] is before[1]
    assert sorted(map(repr, torch.serialization.get_safe_globals())) == sorted(
        map(repr, before[2]))


def test_old_torch_without_allow_list_api_warns_instead_of_failing(monkeypatch):
    """GPU users on an older torch (mmcv 2.1.0's prebuilt wheels stop at torch
    2.1) can still import the package; the loaders stay as they were."""
    before = dict(CheckpointLoader._schemes)
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    with pytest.warns(UserWarning, match=r'torch >= 2.5'):
        compat.setup_secure_checkpoint_loading()
    assert CheckpointLoader._schemes == before
