"""Checkpoints load with weights_only=True through every mmengine scheme; bad
files are refused naming the file and what is wrong; nothing in a file runs."""
import copyreg
import io
import json
import os
import os.path as osp
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    rewrite_trusted_checkpoint,
)
from tests.test_security.helpers import (
    RunsACommand,
    code_payload,
    pickled_globals,
    runner_like_checkpoint,
    serve_directory,
    tiny_runner,
)


def _save(obj, path):
    torch.save(obj, str(path))
    return str(path)


def test_runner_checkpoint_loads_weights_only(tmp_path, secure_loading):
    ckpt = runner_like_checkpoint()
    path = _save(ckpt, tmp_path / 'iter_3.pth')
    assert 'builtins.getattr' not in pickled_globals(path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0], [1.0, 0.5, 1 / 3])
    assert buffer.mean() == pytest.approx((1 + 0.5 + 1 / 3) / 3)
    assert buffer.max_length == ckpt['message_hub']['log_scalars']['train/loss'].max_length
    torch.testing.assert_close(loaded['state_dict'], ckpt['state_dict'])
    keys = loaded['rng_state']['numpy']['keys']
    assert type(keys) is np.ndarray and keys.dtype == np.uint32
    np.testing.assert_array_equal(keys, np.arange(624))
    best = loaded['message_hub']['runtime_info']['best_score']
    assert type(best) is np.float64 and best == 0.5
    # plain torch.load with weights_only (the default since torch 2.6) works too
    plain = torch.load(path, weights_only=True)
    assert plain['meta']['iter'] == 3
    np.testing.assert_array_equal(plain['rng_state']['numpy']['keys'], np.arange(624))


@pytest.mark.parametrize('loader', ['mmengine', 'mmseg_attn', 'torch'])
def test_foreign_pickled_object_is_refused(tmp_path, loader, secure_loading):
    marker = tmp_path / 'pwned'
    path = _save(dict(state_dict={}, payload=RunsACommand(marker)), tmp_path / 'evil.pth')
    if loader == 'torch':  # torch.load with weights_only (the default since torch 2.6)
        with pytest.raises(pickle.UnpicklingError, match='posix.system'):
            torch.load(path, weights_only=True)
    else:
        load = (CheckpointLoader.load_checkpoint
                if loader == 'mmengine' else load_checkpoint_file)
        with pytest.raises(UnsafeCheckpointError,
                           match=r'Refused to load the checkpoint .*evil.*posix.system'):
            load(path, map_location='cpu')
    assert not marker.exists()


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
    with pytest.raises(UnsafeCheckpointError, match=r'builtins.getattr.*upgrade_checkpoint.py'):
        CheckpointLoader.load_checkpoint(legacy)
    upgraded = str(tmp_path / 'upgraded.pth')
    rewrite_trusted_checkpoint(legacy, upgraded)
    assert 'builtins.getattr' not in pickled_globals(upgraded)
    assert CheckpointLoader.load_checkpoint(upgraded)['meta']['iter'] == 3


# ------------------------------------------------------- defect 5: clear refusals

def _truncated_zip(path):
    data = open(_save(runner_like_checkpoint(), path), 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def _flipped_tensor_byte(path):
    data = bytearray(open(_save(dict(w=torch.arange(64.)), path), 'rb').read())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith('data/0'))
    start = info.header_offset + 30 + int.from_bytes(
        data[info.header_offset + 26:info.header_offset + 28], 'little') + int.from_bytes(
            data[info.header_offset + 28:info.header_offset + 30], 'little')
    data[start + 5] ^= 0x10  # torch itself would load the altered value silently
    open(path, 'wb').write(bytes(data))


BAD_FILES = {
    'empty': (lambda p: open(p, 'wb').close(), r'it is empty \(0 bytes\)'),
    'text': (lambda p: open(p, 'w').write('model = dict(type="X")\n'),
             r"it is a text file, not a checkpoint \(it begins with 'model = dict"),
    'html': (lambda p: open(p, 'w').write('<!DOCTYPE html><html>403 Forbidden</html>'),
             'it is an HTML page'),
    'git lfs pointer': (lambda p: open(p, 'w').write(
        'version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n'), 'git lfs pull'),
    'random bytes': (lambda p: open(p, 'wb').write(np.random.default_rng(0).bytes(4096)),
                     'it is not a torch checkpoint: neither a zip archive'),
    'truncated zip': (_truncated_zip, r'its zip archive is damaged .*truncated or altered'),
    'altered tensor data': (_flipped_tensor_byte, r'its zip archive is damaged .*CRC'),
    'plain pickle': (lambda p: open(p, 'wb').write(pickle.dumps({'a': 1}, protocol=4)),
                     'a plain Python pickle'),
}


@pytest.mark.parametrize('case', list(BAD_FILES))
def test_bad_file_is_named_with_its_problem(tmp_path, case):
    make, problem = BAD_FILES[case]
    path = str(tmp_path / f'{case.replace(" ", "_")}.pth')
    make(path)
    for load in (load_checkpoint_file, CheckpointLoader.load_checkpoint):
        with pytest.raises(CorruptCheckpointError, match=problem) as info:
            load(path)
        assert path in str(info.value) and info.value.filename == path
        # only real foreign objects are called unsafe
        assert not isinstance(info.value, UnsafeCheckpointError)
        assert 'upgrade_checkpoint' not in str(info.value)


def test_missing_file_and_directory_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing_here.pth.* does not exist'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothing_here.pth'))
    folder = tmp_path / 'iter_10.pth'
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r'iter_10.pth.* is a directory'):
        CheckpointLoader.load_checkpoint(str(folder))


def test_unreadable_file_keeps_the_permission_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip('root reads files of any mode')
    path = _save(dict(a=1), tmp_path / 'secret.pth')
    os.chmod(path, 0)
    with pytest.raises(PermissionError, match='secret.pth'):
        load_checkpoint_file(path)


# ----------------------------------------- defects 1 and 3: every scheme is secured

def test_resume_from_url_runs_no_code_from_meta_config(tmp_path, monkeypatch):
    """Runner.resume executes meta['config']; through the http(s) loader too."""
    marker = tmp_path / 'pwned'
    Config.fromstring(code_payload(marker), '.py')  # the payload is live...
    assert marker.exists()
    marker.unlink()
    tiny_runner(tmp_path / 'first', max_iters=2).train()
    ckpt = load_checkpoint_file(str(tmp_path / 'first' / 'iter_2.pth'))
    ckpt['meta']['config'] = code_payload(marker)
    served = tmp_path / 'served'
    served.mkdir()
    _save(ckpt, served / 'iter_2.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with serve_directory(served) as url:
        runner = tiny_runner(tmp_path / 'second', max_iters=3, load_from=f'{url}/iter_2.pth',
                             resume=True)
        runner.train()
    assert not marker.exists()  # ...but never runs from a checkpoint
    assert runner.iter == 3
    assert osp.isfile(tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'iter_2.pth')
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'  # restored
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ


def test_url_loads_refuse_payloads_and_name_url_and_cache(tmp_path, monkeypatch):
    marker = tmp_path / 'pwned'
    served = tmp_path / 'served'
    served.mkdir()
    _save(runner_like_checkpoint(), served / 'good.pth')
    _save(dict(state_dict={}, payload=RunsACommand(marker)), served / 'evil.pth')
    (served / 'page.pth').write_text('<html>not found</html>')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with serve_directory(served) as url:
        assert CheckpointLoader.load_checkpoint(f'{url}/good.pth')['meta']['iter'] == 3
        with pytest.raises(UnsafeCheckpointError, match=rf'evil.pth.*downloaded from {url}'):
            CheckpointLoader.load_checkpoint(f'{url}/evil.pth')
        with pytest.raises(CorruptCheckpointError, match=r'page.pth.*delete the file.*HTML'):
            CheckpointLoader.load_checkpoint(f'{url}/page.pth')
    assert not marker.exists()


@pytest.fixture
def mmengine_home(tmp_path, monkeypatch):
    home = tmp_path / 'mmengine_home'
    home.mkdir()
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return home


def test_open_mmlab_name_of_a_local_file(tmp_path, mmengine_home):
    """open_mmlab.json may map a name to a file under MMENGINE_HOME, which
    mmengine loads with a bare torch.load: the variable that turns torch's
    weights_only default off must not reopen the hole."""
    marker = tmp_path / 'pwned'
    good = runner_like_checkpoint()
    good['meta']['config'] = code_payload(marker)
    _save(good, mmengine_home / 'good.pth')
    _save(dict(state_dict={}, payload=RunsACommand(marker)), mmengine_home / 'evil.pth')
    (mmengine_home / 'open_mmlab.json').write_text(
        json.dumps(dict(my_good='good.pth', my_evil='evil.pth')))
    loaded = CheckpointLoader.load_checkpoint('open-mmlab://my_good')
    assert loaded['meta']['iter'] == 3 and 'config' not in loaded['meta']
    assert type(loaded['rng_state']['numpy']['keys']) is np.ndarray
    with pytest.raises(UnsafeCheckpointError, match=r"open-mmlab://my_evil.*posix.system"):
        CheckpointLoader.load_checkpoint('open-mmlab://my_evil')
    assert not marker.exists()
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'


def test_pavi_and_ceph_schemes_are_secured(tmp_path, monkeypatch):
    """pavi:// and s3:// / petrel:// call torch.load themselves; their clients
    are replaced here by stand-ins serving a hostile file."""
    marker = tmp_path / 'pwned'
    evil = _save(dict(state_dict={}, payload=RunsACommand(marker)), tmp_path / 'evil.pth')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')

    class Model:
        name = 'evil.pth'

        def download(self, dst):
            with open(evil, 'rb') as src, open(dst, 'wb') as out:
                out.write(src.read())

    pavi = types.ModuleType('pavi')
    pavi.modelcloud = types.SimpleNamespace(get=lambda path: Model())
    petrel_client = types.ModuleType('petrel_client')

    class Client:

        def __init__(self, *args, **kwargs):
            pass

        def Get(self, path):  # noqa: N802 (petrel's API)
            return open(evil, 'rb').read()

    petrel_client.client = types.SimpleNamespace(Client=Client)
    monkeypatch.setitem(sys.modules, 'pavi', pavi)
    monkeypatch.setitem(sys.modules, 'petrel_client', petrel_client)
    monkeypatch.setitem(sys.modules, 'petrel_client.client', petrel_client.client)
    for name in ('pavi://models/evil', 's3://bucket/evil.pth', 'petrel://bucket/evil.pth'):
        with pytest.raises(UnsafeCheckpointError, match=rf'{name}.*posix.system'):
            CheckpointLoader.load_checkpoint(name)
    assert not marker.exists()


def test_scheme_registered_later_is_secured(tmp_path, monkeypatch):
    marker = tmp_path / 'pwned'
    files = {'evil': _save(dict(payload=RunsACommand(marker)), tmp_path / 'evil.pth')}
    good = runner_like_checkpoint()
    good['meta']['config'] = code_payload(marker)
    files['good'] = _save(good, tmp_path / 'good.pth')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    schemes = dict(CheckpointLoader._schemes)

    def load_from_myproto(filename, map_location=None):
        # a careless loader: torch.load with torch's default, even weights_only=False
        return torch.load(files[filename[len('myproto://'):]], map_location,
                          weights_only=False)

    try:
        CheckpointLoader.register_scheme('myproto://', load_from_myproto)
        loaded = CheckpointLoader.load_checkpoint('myproto://good')
        assert loaded['meta']['iter'] == 3 and 'config' not in loaded['meta']
        with pytest.raises(UnsafeCheckpointError, match='myproto://evil'):
            CheckpointLoader.load_checkpoint('myproto://evil')
    finally:
        CheckpointLoader._schemes = schemes
    assert not marker.exists()


def test_environment_is_restored_after_a_failed_load(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', 'true')
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)
    (tmp_path / 'x.pth').write_text('x = 1')
    with pytest.raises(CorruptCheckpointError):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'x.pth'))
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == 'true'
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ


def test_file_replaced_while_loading_is_loaded_again(tmp_path, monkeypatch):
    """The checks and torch.load must see the same file: a checkpoint replaced
    in between (an atomic save of the next one) is checked and loaded again."""
    from mmseg_attn.compat import atomic_write_bytes
    from mmseg_attn.security import loader as module
    path = _save(dict(meta=dict(iter=1)), tmp_path / 'latest.pth')
    newer = open(_save(dict(meta=dict(iter=2)), tmp_path / 'newer.pth'), 'rb').read()
    checked_load, calls = module._checked_load, []

    def replaced_after_the_first_load(*args):
        result = checked_load(*args)
        calls.append(result['meta']['iter'])
        if len(calls) == 1:
            atomic_write_bytes(newer, path)
        return result

    monkeypatch.setattr(module, '_checked_load', replaced_after_the_first_load)
    assert load_checkpoint_file(path)['meta']['iter'] == 2
    assert calls == [1, 2]
