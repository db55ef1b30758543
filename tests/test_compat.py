"""Secure checkpoint loading: mmengine checkpoints load with weights_only=True,
anything else pickled is refused before it can run."""
import copyreg
import io
import os
import os.path as osp
import pickle
import pickletools

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import (
    UnsafeCheckpointError,
    load_checkpoint_file,
    rewrite_trusted_checkpoint,
)


def pickled_globals(path):
    """Names of every global that a torch checkpoint's pickle refers to."""
    import zipfile
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith('data.pkl'))
        data = zf.read(name)
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(io.BytesIO(data)):
        if op.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE'):
            strings.append(arg)
        elif op.name == 'GLOBAL':
            found.add(arg.replace(' ', '.'))
        elif op.name == 'STACK_GLOBAL':
            found.add('.'.join(strings[-2:]))
    return {name.replace('__builtin__.', 'builtins.') for name in found}


def runner_like_checkpoint():
    """The parts of a checkpoint that mmengine's Runner writes."""
    hub = MessageHub.get_instance('test_compat')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
        hub.update_scalar('train/lr', np.float64(0.01))
    hub.update_info('iter', 3)
    model = torch.nn.Conv2d(3, 4, 1)
    return dict(meta=dict(epoch=0, iter=3, seed=0, dataset_meta=dict(classes=('a', 'b'))),
                state_dict=model.state_dict(),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
                message_hub=hub.state_dict(),
                param_schedulers=[dict(last_step=3, base_lrs=[0.01])])


def test_runner_checkpoint_loads_weights_only(tmp_path):
    path = str(tmp_path / 'iter_3.pth')
    ckpt = runner_like_checkpoint()
    torch.save(ckpt, path)
    assert 'builtins.getattr' not in pickled_globals(path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0], [1.0, 0.5, 1 / 3])
    assert buffer.mean() == pytest.approx((1 + 0.5 + 1 / 3) / 3)
    assert buffer.max_length == ckpt['message_hub']['log_scalars']['train/loss'].max_length
    torch.testing.assert_close(loaded['state_dict'], ckpt['state_dict'])
    # plain torch.load with its weights_only default (True since torch 2.6) works too
    assert torch.load(path)['meta']['iter'] == 3


class RunsACommand:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.mark.parametrize('loader', ['mmengine', 'mmseg_attn', 'torch'])
def test_foreign_pickled_object_is_refused(tmp_path, loader):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, payload=RunsACommand(marker)), path)
    if loader == 'torch':  # weights_only stays the global default
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path)
    else:
        load = (CheckpointLoader.load_checkpoint
                if loader == 'mmengine' else load_checkpoint_file)
        with pytest.raises(UnsafeCheckpointError, match=r'Refused to load the checkpoint .*evil'):
            load(path, map_location='cpu')
    assert not marker.exists()


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing_here.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothing_here.pth'))


def test_legacy_checkpoint_needs_explicit_trust(tmp_path):
    """Without the reducer HistoryBuffer pickles with getattr: refused until
    the user rewrites the file on purpose."""
    legacy = str(tmp_path / 'legacy.pth')
    reducer = copyreg.dispatch_table.pop(HistoryBuffer)
    try:
        torch.save(runner_like_checkpoint(), legacy)
    finally:
        copyreg.pickle(HistoryBuffer, reducer)
    assert 'builtins.getattr' in pickled_globals(legacy)
    with pytest.raises(UnsafeCheckpointError, match='upgrade_checkpoint.py'):
        CheckpointLoader.load_checkpoint(legacy)
    upgraded = str(tmp_path / 'upgraded.pth')
    rewrite_trusted_checkpoint(legacy, upgraded)
    assert 'builtins.getattr' not in pickled_globals(upgraded)
    assert osp.isfile(upgraded)
    assert CheckpointLoader.load_checkpoint(upgraded)['meta']['iter'] == 3


def test_downloaded_checkpoint_is_loaded_weights_only(tmp_path, monkeypatch):
    """Pretrained URLs (open-mmlab://, http(s)://) go through the same checks."""
    import shutil

    import torch.hub
    marker = tmp_path / 'pwned'
    served = {'good.pth': runner_like_checkpoint(),
              'evil.pth': dict(state_dict={}, payload=RunsACommand(marker))}
    for name, ckpt in served.items():
        torch.save(ckpt, str(tmp_path / name))

    def fake_download(url, dst, *args, **kwargs):  # no network: serve local files
        shutil.copy(str(tmp_path / url.rsplit('/', 1)[-1]), dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    good = CheckpointLoader.load_checkpoint('https://example.org/ckpts/good.pth')
    assert good['meta']['iter'] == 3
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        CheckpointLoader.load_checkpoint('https://example.org/ckpts/evil.pth')
    assert not marker.exists()


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous checkpoint intact."""
    from mmengine.runner.checkpoint import save_checkpoint
    path = str(tmp_path / 'iter_5.pth')
    save_checkpoint(runner_like_checkpoint(), path)
    good = open(path, 'rb').read()

    class DyingFile(io.FileIO):
        def write(self, data):
            super().write(data[:7])
            raise KeyboardInterrupt('killed while writing')

    def fdopen(fd, mode='r', *args, **kwargs):
        return DyingFile(fd, mode.replace('b', '') or 'r')

    monkeypatch.setattr(os, 'fdopen', fdopen)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(runner_like_checkpoint(), path)
    monkeypatch.undo()
    assert open(path, 'rb').read() == good
    assert os.listdir(tmp_path) == ['iter_5.pth']  # no temporary file left behind
    save_checkpoint(dict(meta=dict(iter=10)), path)
    assert CheckpointLoader.load_checkpoint(path)['meta']['iter'] == 10
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)


def test_resume_does_not_execute_code_from_checkpoint_meta(tmp_path):
    """Runner.resume() runs meta['config'] through Config.fromstring: the
    loader drops that string, so code hidden in it never runs."""
    marker = tmp_path / 'pwned'
    payload = f"import os\nos.system('touch {marker}')\ngpu_ids = [0]\n"
    ckpt = runner_like_checkpoint()
    ckpt['meta']['config'] = payload
    path = str(tmp_path / 'iter_3.pth')
    torch.save(ckpt, path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert 'config' not in loaded['meta'] and loaded['meta']['iter'] == 3
    assert not marker.exists()


def test_old_torch_without_allow_list_api_warns_instead_of_failing(monkeypatch):
    """GPU users on an older torch (mmcv 2.1.0's prebuilt wheels stop at torch
    2.1) can still import the package; the secure loaders stay as they were."""
    from mmseg_attn import compat
    before = dict(CheckpointLoader._schemes)
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    with pytest.warns(UserWarning, match=r'torch >= 2.4'):
        compat.setup_secure_checkpoint_loading()
    assert CheckpointLoader._schemes == before
