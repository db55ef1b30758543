"""Atomic checkpoint files.

mmengine writes a checkpoint with a plain ``open(path, 'wb')``: a process
killed during the write leaves a truncated file under the final name.
:func:`atomic_open` writes to a temporary file ``.<name>.<random>.tmp`` in the
target's folder, flushes it to disk and renames it over the target, so the
target is either the old file or the complete new one. On top of that:

- a symlinked target is written through: the file the link points to is
  replaced and the link stays;
- an existing target keeps its permission bits, and a target that the user
  may not write (e.g. mode 0444) raises ``PermissionError`` as a plain
  ``open(path, 'wb')`` does;
- every ``OSError`` (no space left, a read-only folder, ...) names the
  target, not the temporary file;
- temporaries left behind by killed writers of the same target are removed
  at its next write. A temporary is left alone while its writer holds it
  (each writer keeps an exclusive ``flock`` on its own temporary while
  writing) and while it changed in the last minute (on network file
  systems whose locks do not reach other hosts, a writer elsewhere keeps
  changing its file), so concurrent writers of one target never remove
  each other's files. Where ``flock`` is unavailable (Windows) nothing is
  removed.

:func:`setup_atomic_local_writes` makes mmengine's ``LocalBackend.put`` /
``put_text`` (``save_checkpoint``, ``CheckpointHook``, ``dump``) use it.
"""
import contextlib
import errno
import os
import os.path as osp
import re
import tempfile
import time
from typing import Callable, List, Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = [
    'atomic_open', 'atomic_write_bytes', 'atomic_write_text', 'clean_stale_temporaries',
    'setup_atomic_local_writes'
]

#: A temporary changed more recently than this may belong to a running writer.
IDLE_SECONDS = 60.0


def _temporary_pattern(name: str) -> 're.Pattern':
    # tempfile.mkstemp's random part: 8 characters of [a-z0-9_]
    return re.compile(rf'\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp')


def _lock(fd: int) -> bool:
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def clean_stale_temporaries(path: str) -> List[str]:
    """Remove the temporaries of killed writers of ``path``; return their paths.

    Only files named like this module's temporaries of that one target
    (``.<name>.<8 random characters>.tmp`` in its folder), regular files, not
    locked by a running writer and unchanged for :data:`IDLE_SECONDS`, are
    removed.
    """
    if fcntl is None:
        return []
    folder, name = osp.split(osp.abspath(path))
    pattern = _temporary_pattern(name)
    try:
        candidates = [entry for entry in os.listdir(folder) if pattern.fullmatch(entry)]
    except OSError:
        return []
    removed = []
    for entry in candidates:
        candidate = osp.join(folder, entry)
        try:
            fd = os.open(candidate, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
        except OSError:
            continue
        try:
            stat = os.fstat(fd)
            recent = time.time() - stat.st_mtime < IDLE_SECONDS
            if recent or not _lock(fd) or not osp.samestat(stat, os.stat(candidate)):
                continue
            os.unlink(candidate)
            removed.append(candidate)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _name_target(error: OSError, path: str, folder: str, name: str) -> OSError:
    """``error`` naming ``path`` when it is about our folder or temporary file."""
    about = error.filename
    ours = about is None or about in (folder, path) or (
        isinstance(about, str) and osp.dirname(about) == folder
        and osp.basename(about).startswith(f'.{name}.'))
    if error.errno is None or not ours:
        return error
    return type(error)(error.errno, error.strerror or os.strerror(error.errno), path)


@contextlib.contextmanager
def atomic_open(path: str, verify: Optional[Callable[[str], None]] = None):
    """Open ``path`` for writing bytes so that it is never left half-written.

    Args:
        path (str): The target file.
        verify (callable, optional): Called with the temporary file's path
            once everything is written, before it replaces ``path``; an
            exception from it removes the temporary and leaves ``path`` as
            it was. Defaults to None.

    Yields:
        A binary file object.

    Raises:
        PermissionError: ``path`` exists and may not be written, or its
            folder may not be written (naming ``path``).
        OSError: Any other error of the file system, naming ``path``.
    """
    target = osp.realpath(osp.expanduser(str(path)))  # write through symlinks
    folder, name = osp.split(target)
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        if osp.isdir(target):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if osp.exists(target):
            if not os.access(target, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
            mode = os.stat(target).st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # what a plain open() would give
        clean_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{name}.', suffix='.tmp')
        _lock(fd)  # held until the file is closed: tells cleaners that it is in use
        with os.fdopen(fd, 'wb') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if verify is not None:
                verify(tmp)
            os.replace(tmp, target)
            tmp = None
        with contextlib.suppress(OSError, AttributeError):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as e:
        raise _name_target(e, str(path), folder, name) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(text: str, path: str, encoding: str = 'utf-8') -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    atomic_write_bytes(text.encode(encoding), path)


def _atomic_put(self, obj: bytes, filepath) -> None:
    atomic_write_bytes(obj, str(filepath))


def _atomic_put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
    atomic_write_text(obj, str(filepath), encoding)


def setup_atomic_local_writes() -> None:
    """Make mmengine's ``LocalBackend.put`` / ``put_text`` atomic (checkpoints).

    The signatures and documented behaviour stay mmengine's (the folder is
    created, an existing file replaced); only the way the bytes reach the
    disk changes.
    """
    from mmengine.fileio.backends import LocalBackend
    _atomic_put.__doc__ = LocalBackend.put.__doc__ if LocalBackend.put is not _atomic_put \
        else _atomic_put.__doc__
    _atomic_put_text.__doc__ = LocalBackend.put_text.__doc__ \
        if LocalBackend.put_text is not _atomic_put_text else _atomic_put_text.__doc__
    LocalBackend.put = _atomic_put
    LocalBackend.put_text = _atomic_put_text
