"""Checkpoint files are written atomically: complete or absent, symlinks kept,
permissions respected, errors naming the target, no temporaries piling up."""
import errno
import io
import json
import os
import os.path as osp
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import atomic_open, atomic_write_bytes
from mmseg_attn.security.atomic import IDLE_SECONDS
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
    _age(*tmp_path.iterdir())  # the restarted job saves its next checkpoint later
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


# tries atomic_write_bytes on each path and reports the error (as another user)
WRITE_EACH = textwrap.dedent('''
    import json, sys, types
    atomic = types.ModuleType('atomic')  # its source comes on stdin (stdlib only)
    exec(compile(sys.stdin.read(), 'atomic.py', 'exec'), atomic.__dict__)
    errors = {}
    for path in sys.argv[1:]:
        try:
            atomic.atomic_write_bytes(b'new', path)
            errors[path] = None
        except OSError as e:
            errors[path] = [type(e).__name__, e.filename, str(e)]
    print(json.dumps(errors))
''')


def test_read_only_target_and_folder_raise_naming_the_target():
    """As with a plain open(path, 'wb'): a 0444 file and a read-only folder
    raise PermissionError naming the target, and nothing changes. root may
    write both, so as root the writes run in a child process as 'nobody'."""
    folder = tempfile.mkdtemp(prefix='atomic_perm_')
    try:
        os.chmod(folder, 0o777)
        frozen = osp.join(folder, 'frozen.pth')
        with open(frozen, 'wb') as f:
            f.write(b'keep me')
        os.chmod(frozen, 0o444)
        locked = osp.join(folder, 'read_only')
        os.mkdir(locked, 0o555)
        os.chmod(locked, 0o555)
        targets = [frozen, osp.join(locked, 'iter_1.pth')]
        python, nobody = sys.executable, {}
        if os.geteuid() == 0:  # the system's python: 'nobody' may not reach ours
            python = next((p for p in ('/usr/bin/python3', '/usr/local/bin/python3')
                           if osp.isfile(p)), None)
            if python is None:
                pytest.skip('no system python to run as an unprivileged user')
            nobody = dict(preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        with open(ATOMIC) as f:
            source = f.read()
        result = subprocess.run([python, '-c', WRITE_EACH, *targets], input=source,
                                capture_output=True, text=True, timeout=120, **nobody)
        assert result.returncode == 0, result.stderr
        errors = json.loads(result.stdout.strip().splitlines()[-1])
        for target in targets:
            kind, filename, message = errors[target]
            assert kind == 'PermissionError' and filename == target, errors
            assert '.tmp' not in message
        assert open(frozen, 'rb').read() == b'keep me' and os.listdir(locked) == []
    finally:
        os.chmod(osp.join(folder, 'read_only'), 0o755)
        shutil.rmtree(folder)


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


def test_recently_changed_temporary_is_left_alone(tmp_path):
    """Between mkstemp and flock, or on a network file system whose locks do
    not reach this host, a writer's temporary is unlocked: it is kept while it
    changed within the last minute."""
    recent = tmp_path / '.x.pth.abcd1234.tmp'
    recent.write_bytes(b'being written elsewhere')
    atomic_write_bytes(b'1', str(tmp_path / 'x.pth'))
    assert recent.exists()
    _age(recent)
    atomic_write_bytes(b'2', str(tmp_path / 'x.pth'))
    assert not recent.exists()


def _age(*paths, seconds=IDLE_SECONDS + 60):
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))
