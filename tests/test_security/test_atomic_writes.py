"""Checkpoint files are written atomically: complete or absent, symlinks kept,
permissions respected, errors naming the target, no temporaries piling up."""
import errno
import io
import os
import os.path as osp
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import atomic_open, atomic_write_bytes
from tests.test_security.helpers import runner_like_checkpoint
from tests.utils import REPO_ROOT

# writes TARGET through atomic_open in 1 MiB steps and says when it started
# (atomic.py is loaded on its own: the writer starts without importing all models)
SLOW_WRITER = textwrap.dedent('''
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location('atomic', sys.argv[3])
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    with atomic.atomic_open(sys.argv[1]) as f:
        for i in range(int(sys.argv[2])):
            f.write(bytes(1 << 20))
            f.flush()
            if i == 0:
                print('writing', flush=True)
            time.sleep(0.05)
''')
ATOMIC = osp.join(REPO_ROOT, 'mmseg_attn', 'security', 'atomic.py')


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith('.tmp'))


def _start_writer(target, mib):
    proc = subprocess.Popen([sys.executable, '-c', SLOW_WRITER, str(target), str(mib), ATOMIC],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'
    return proc


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous checkpoint intact."""
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
    assert stat.S_IMODE(os.stat(path).st_mode) != 0o600


def test_temporary_of_a_killed_writer_is_removed_at_the_next_write(tmp_path):
    target = tmp_path / 'iter_100.pth'
    atomic_write_bytes(b'old checkpoint', str(target))
    writer = _start_writer(target, mib=200)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(10)
    stale = _temporaries(tmp_path)
    assert len(stale) == 1 and stale[0].startswith('.iter_100.pth.')
    assert os.path.getsize(tmp_path / stale[0]) >= 1 << 20
    assert target.read_bytes() == b'old checkpoint'
    # files of other targets and of other names are not ours to remove
    (tmp_path / '.iter_200.pth.abcdefgh.tmp').write_bytes(b'x')
    (tmp_path / 'notes.tmp').write_bytes(b'x')
    atomic_write_bytes(b'new checkpoint', str(target))
    assert target.read_bytes() == b'new checkpoint'
    assert _temporaries(tmp_path) == ['.iter_200.pth.abcdefgh.tmp', 'notes.tmp']


def test_concurrent_writer_keeps_its_temporary(tmp_path):
    """A second writer of the same target does not remove a running writer's
    file (it holds a lock on it); both writes complete."""
    target = tmp_path / 'latest.pth'
    with atomic_open(str(target)) as first:
        first.write(bytes(1 << 20))
        first.flush()
        running = _temporaries(tmp_path)
        assert len(running) == 1
        atomic_write_bytes(b'from the second writer', str(target))
        assert _temporaries(tmp_path) == running
        assert target.read_bytes() == b'from the second writer'
    assert target.stat().st_size == 1 << 20  # the first writer finished last
    assert _temporaries(tmp_path) == []


def test_symlinked_target_is_written_through(tmp_path):
    real = tmp_path / 'store' / 'iter_4.pth'
    real.parent.mkdir()
    real.write_bytes(b'old')
    link = tmp_path / 'latest.pth'
    link.symlink_to(real)
    save_checkpoint(dict(meta=dict(iter=4)), str(link))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert CheckpointLoader.load_checkpoint(str(real))['meta']['iter'] == 4
    assert _temporaries(tmp_path) == [] and _temporaries(real.parent) == []


def test_existing_mode_is_kept(tmp_path):
    target = tmp_path / 'shared.pth'
    target.write_bytes(b'old')
    os.chmod(target, 0o640)
    atomic_write_bytes(b'new', str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write read-only files and folders')
def test_read_only_target_and_folder_raise_naming_the_target(tmp_path):
    target = tmp_path / 'frozen.pth'
    target.write_bytes(b'keep me')
    os.chmod(target, 0o444)
    with pytest.raises(PermissionError) as info:  # as a plain open(path, 'wb') does
        save_checkpoint(dict(a=1), str(target))
    assert info.value.filename == str(target)
    assert target.read_bytes() == b'keep me'
    folder = tmp_path / 'read_only'
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError) as info:
            atomic_write_bytes(b'x', str(folder / 'iter_1.pth'))
        assert info.value.filename == str(folder / 'iter_1.pth') and '.tmp' not in str(info.value)
    finally:
        os.chmod(folder, 0o755)


def test_disk_full_names_the_target_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / 'iter_9.pth'
    target.write_bytes(b'previous')

    class FullDisk(io.FileIO):

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fdopen', lambda fd, mode='r', *a, **k: FullDisk(fd, 'w'))
    with pytest.raises(OSError) as info:
        save_checkpoint(dict(a=1), str(target))
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert str(target) in str(info.value)
    assert target.read_bytes() == b'previous' and _temporaries(tmp_path) == []


def test_verify_failure_leaves_target_untouched(tmp_path):
    target = tmp_path / 'checked.pth'
    target.write_bytes(b'old')

    def verify(tmp):
        assert open(tmp, 'rb').read() == b'new'
        raise ValueError('refused')

    with pytest.raises(ValueError, match='refused'):
        with atomic_open(str(target), verify=verify) as f:
            f.write(b'new')
    assert target.read_bytes() == b'old' and _temporaries(tmp_path) == []


def test_empty_temporary_of_a_starting_writer_is_left_alone(tmp_path):
    """mkstemp creates the file before its writer locks it: an empty, fresh
    temporary may belong to a writer that is just starting."""
    fresh = tmp_path / '.x.pth.abcd1234.tmp'
    fresh.write_bytes(b'')
    atomic_write_bytes(b'1', str(tmp_path / 'x.pth'))
    assert fresh.exists()
    old = time.time() - 3600
    os.utime(fresh, (old, old))
    atomic_write_bytes(b'2', str(tmp_path / 'x.pth'))
    assert not fresh.exists()
