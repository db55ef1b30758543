"""Checkpoint files are data: secure loading through every mmengine scheme.

- :func:`load_checkpoint_file` loads a local file with ``weights_only=True``
  after checking what the file is: an empty file, a text or HTML page, a
  Git LFS pointer, random bytes, a truncated or altered zip archive (each
  member's CRC-32 is verified, which torch itself does not do) are refused
  with :class:`CorruptCheckpointError`; a file whose pickle names globals
  outside the allow-list is refused with :class:`UnsafeCheckpointError`
  before torch unpickles anything. Both name the file.
- :func:`secure_checkpoint_loader` wraps every loader that
  :class:`~mmengine.runner.CheckpointLoader` hands out (local files,
  ``http(s)://``, ``open-mmlab://``, ``torchvision://``, ``mmcls://``,
  ``pavi://``, ``s3://``, ``petrel://`` and any scheme registered later):
  every ``torch.load`` in it runs with ``weights_only=True`` whatever the
  loader passes and whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says, and
  the loaded checkpoint is made inert: ``meta['config']`` (which
  ``Runner.resume`` executes) is dropped and the config texts that mmengine's
  inferencer executes (``meta['cfg']``,
  ``message_hub['runtime_info']['cfg']``) are replaced by their data (see
  :mod:`mmseg_attn.security.config_text`).
"""
import contextlib
import copyreg
import functools
import os
import os.path as osp
import pickle
import re
import sys
import threading
import warnings
from typing import Any, Callable, Optional, Set
from urllib.parse import urlparse

import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from . import unpickler
from .allowlist import (
    allowed_global_names,
    history_buffer_reducer,
    install_allow_list,
    resolve_numpy,
)
from .config_text import safe_config_text
from .errors import (
    CheckpointError,
    CorruptCheckpointError,
    unsafe_checkpoint_error,
)
from .inspection import file_globals

__all__ = [
    'install_secure_unpickling', 'load_checkpoint_file', 'load_url', 'sanitize_checkpoint',
    'secure_checkpoint_loader', 'secure_global_names', 'setup_secure_checkpoint_loading',
    'weights_only_loads'
]

_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def _torch_detail(error: BaseException) -> str:
    text = _ANSI.sub('', str(error))
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
    text = text.split('Check the documentation of torch.load')[0].strip()
    text = ' '.join(text.split('\n\n')[-1].split())  # torch's advice comes first
    return f'{type(error).__name__}: {text[:300]}'


def _is_data_error(error: BaseException) -> bool:
    """Whether an exception of torch.load comes from the file's contents
    (rather than from ``map_location``, memory or the file system)."""
    if isinstance(error, (MemoryError, KeyboardInterrupt, SystemExit)):
        return False
    if isinstance(error, OSError) and error.errno is not None:
        return False
    if isinstance(error, RuntimeError) and 'Attempting to deserialize object on' in str(error):
        return False  # map_location names a device that this machine lacks
    return isinstance(error, Exception)


def install_secure_unpickling() -> bool:
    """Make torch's ``weights_only`` loads accept the allow-list and nothing else.

    With torch >= 2.5 the validating functions are registered with
    :func:`torch.serialization.add_safe_globals`
    (:func:`~.allowlist.install_allow_list`); an older torch cannot register
    a function under another name, so its ``weights_only`` unpickler is
    replaced by the restricted one of :mod:`.unpickler`, which takes the
    same allow-list. Idempotent and cheap; called before every secure load.

    Returns:
        bool: False only where neither works (checkpoints then load the way
        mmengine loads them with this torch).
    """
    if unpickler.installed():
        return True
    return install_allow_list() or unpickler.install()


def secure_global_names() -> Set[str]:
    """Every global name that a ``weights_only`` load accepts right now."""
    if unpickler.installed():
        return set(unpickler.allowed_globals())
    return allowed_global_names()


_FORCE = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
_NO_FORCE = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
_guard_lock = threading.Lock()
_guard_depth = 0
_saved_environ: dict = {}


@contextlib.contextmanager
def weights_only_loads():
    """Every ``torch.load`` in this process runs with ``weights_only=True`` inside.

    torch gives ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` precedence over any
    ``weights_only`` argument, and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
    turns the default (not an explicit argument) off. Inside this context the
    first is set and the second removed, so a loader that calls
    ``torch.load(f)`` without arguments (mmengine's ``open-mmlab://``,
    ``pavi://``, ``s3://`` loaders, torch.hub's download path, any scheme
    registered later) cannot unpickle code; both are restored on exit. The
    context nests and is shared by threads (the last one out restores).
    """
    global _guard_depth, _saved_environ
    with _guard_lock:
        if _guard_depth == 0:
            _saved_environ = {key: os.environ.get(key) for key in (_FORCE, _NO_FORCE)}
            os.environ[_FORCE] = '1'
            os.environ.pop(_NO_FORCE, None)
        _guard_depth += 1
    try:
        install_secure_unpickling()
        yield
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                for key, value in _saved_environ.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def load_checkpoint_file(filename: str, map_location=None, note: str = ''):
    """Load a local checkpoint file with ``weights_only=True``, after checking it.

    Args:
        filename (str): Path of a local checkpoint file (``~`` is expanded).
        map_location: As for :func:`torch.load`. Defaults to None.
        note (str): Said after the file name in errors (e.g. the URL it was
            downloaded from). Defaults to ''.

    A file replaced while it is checked and loaded (a writer saving the
    next ``latest.pth``) is checked and loaded again, up to three times.

    Returns:
        The checkpoint, with numpy arrays and dtypes as plain numpy objects.

    Raises:
        FileNotFoundError: The file does not exist.
        IsADirectoryError: It is a directory.
        CorruptCheckpointError: It is empty, not a checkpoint (text, HTML,
            Git LFS pointer, another format, random bytes), damaged
            (truncated, altered: every zip member's CRC-32 is checked), or
            holds values that the allow-list refuses.
        UnsafeCheckpointError: Its pickle names objects outside the
            allow-list; nothing of it was unpickled.
    """
    path = osp.expanduser(str(filename))
    if osp.isdir(path):
        raise IsADirectoryError(f'checkpoint {filename!r} is a directory, not a checkpoint file')
    if not osp.exists(path):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    for _ in range(3):  # a writer may replace the file (atomically) while it is checked
        before = _identity(path)
        checkpoint = _checked_load(path, filename, map_location, note)
        if _identity(path) == before:
            return checkpoint
    raise CorruptCheckpointError(filename, 'it was replaced three times while being loaded',
                                 note)


def _identity(path: str) -> tuple:
    stat = os.stat(path)
    return stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns


def _checked_load(path: str, filename: str, map_location, note: str):
    names = file_globals(path, filename, note)
    with weights_only_loads():
        foreign = names - secure_global_names()
        if foreign:
            raise unsafe_checkpoint_error(filename, foreign, note)
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:
            if not _is_data_error(e):
                raise
            raise CorruptCheckpointError(
                filename, f'it holds data that the secure loader refuses ({_torch_detail(e)})',
                note) from None
    try:
        return resolve_numpy(checkpoint)
    except ValueError as e:
        raise CorruptCheckpointError(filename, str(e), note) from None


def load_url(url: str, model_dir: Optional[str] = None, map_location=None,
             progress: bool = True, check_hash: bool = False, file_name: Optional[str] = None,
             weights_only: bool = True):
    """torch.hub's ``load_state_dict_from_url`` (download once into
    ``model_dir``, default ``<torch hub dir>/checkpoints``), loading the file
    with :func:`load_checkpoint_file`.

    mmengine's ``http(s)://``, ``open-mmlab://``, ``torchvision://`` and
    ``mmcls://`` loaders download through this function (it replaces
    ``mmengine.runner.checkpoint.load_url``). ``weights_only`` is accepted
    for the signature and always True.
    """
    from torch.hub import HASH_REGEX, download_url_to_file, get_dir
    if model_dir is None:
        model_dir = osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    name = file_name or osp.basename(urlparse(url).path)
    cached = osp.join(model_dir, name)
    if not osp.exists(cached):
        sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        match = HASH_REGEX.search(name) if check_hash else None
        download_url_to_file(url, cached, match.group(1) if match else None, progress=progress)
    return load_checkpoint_file(
        cached, map_location,
        note=f'downloaded from {url}; delete the file to download it again')


def _from_loader_error(filename: str, error: pickle.UnpicklingError) -> CheckpointError:
    """A refusal of torch inside a scheme's own loader, named after the checkpoint."""
    found = re.findall(r'GLOBAL (\S+) (?:was not an allowed global|whose module \S+ is blocked)',
                       _ANSI.sub('', str(error)))
    if found:
        return unsafe_checkpoint_error(filename, found)
    return CorruptCheckpointError(
        filename, f'it holds data that the secure loader refuses ({_torch_detail(error)})')


def sanitize_checkpoint(checkpoint: Any, filename: str) -> Any:
    """Make a loaded checkpoint inert for mmengine.

    Drops ``meta['config']`` (``Runner.resume`` runs it as a Python config to
    read the old ``gpu_ids``) and replaces ``meta['cfg']`` and
    ``message_hub['runtime_info']['cfg']`` (mmengine's inferencer runs them as
    a Python config when no config is given) by
    :func:`~mmseg_attn.security.config_text.safe_config_text`. Numpy objects
    are made plain.
    """
    try:
        checkpoint = resolve_numpy(checkpoint)
    except ValueError as e:
        raise CorruptCheckpointError(filename, str(e)) from None
    if not isinstance(checkpoint, dict):
        return checkpoint
    meta = checkpoint.get('meta')
    if isinstance(meta, dict):
        meta.pop('config', None)
        if isinstance(meta.get('cfg'), str):
            meta['cfg'] = safe_config_text(meta['cfg'], filename, "meta['cfg']")
    hub = checkpoint.get('message_hub')
    info = hub.get('runtime_info') if isinstance(hub, dict) else None
    if isinstance(info, dict) and isinstance(info.get('cfg'), str):
        info['cfg'] = safe_config_text(info['cfg'], filename,
                                       "message_hub['runtime_info']['cfg']")
    return checkpoint


def secure_checkpoint_loader(loader: Callable) -> Callable:
    """Wrap a :class:`~mmengine.runner.CheckpointLoader` scheme loader.

    Inside, every ``torch.load`` runs with ``weights_only=True``
    (:func:`weights_only_loads`); torch's refusals become
    :class:`UnsafeCheckpointError` / :class:`CorruptCheckpointError` naming
    the checkpoint; the result goes through :func:`sanitize_checkpoint`.
    Name, docstring and signature stay the loader's.
    """
    if getattr(loader, '_mmseg_attn_secure', False):
        return loader

    @functools.wraps(loader)
    def secured(filename, map_location=None, *args, **kwargs):
        with weights_only_loads():
            try:
                checkpoint = loader(filename, map_location, *args, **kwargs)
            except CheckpointError:
                raise
            except pickle.UnpicklingError as e:
                raise _from_loader_error(filename, e) from None
        return sanitize_checkpoint(checkpoint, filename)

    secured._mmseg_attn_secure = True
    return secured


def load_from_local(filename: str, map_location=None):
    """mmengine's local scheme (``load_from``, ``--resume``, ``tools/test.py
    CKPT``) through :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location)


def _secure_dispatch(get_loader: Callable) -> Callable:
    """``CheckpointLoader._get_checkpoint_loader`` handing out secured loaders."""

    @functools.wraps(get_loader)
    def _get_checkpoint_loader(cls, path):
        loader = get_loader(cls, path)
        return None if loader is None else secure_checkpoint_loader(loader)

    _get_checkpoint_loader._mmseg_attn_secure = True
    return _get_checkpoint_loader


def setup_secure_checkpoint_loading() -> None:
    """Install the reducer, the allow-list and the secure mmengine loaders.

    - ``HistoryBuffer`` pickles as its arrays and ``max_length``
      (:mod:`copyreg`), so new checkpoints hold no ``getattr``;
    - the validating rebuild functions are allow-listed
      (:mod:`mmseg_attn.security.allowlist`);
    - the local scheme is :func:`load_from_local`, and
      ``mmengine.runner.checkpoint.load_url`` is :func:`load_url`;
    - ``CheckpointLoader._get_checkpoint_loader`` (the dispatch through the
      table of registered schemes) hands out every loader wrapped by
      :func:`secure_checkpoint_loader`, schemes registered later included.

    Idempotent; called when ``mmseg_attn`` is imported. On torch < 2.5 the
    allow-list is enforced by the unpickler of :mod:`.unpickler`
    (:func:`install_secure_unpickling`). Where neither is possible (a torch
    without the private module it replaces), mmengine keeps loading the way
    it does with that torch, and a warning says so.
    """
    copyreg.pickle(HistoryBuffer, history_buffer_reducer)
    if not install_secure_unpickling():
        warnings.warn(
            f'mmseg_attn: torch {torch.__version__} can neither allow-list validating rebuild '
            'functions for weights_only loading nor take a restricted unpickler; checkpoints '
            'load the way mmengine loads them with this torch.', stacklevel=2)
        return
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    mmengine_checkpoint.load_url = load_url
    current = CheckpointLoader.__dict__['_get_checkpoint_loader'].__func__
    if not getattr(current, '_mmseg_attn_secure', False):
        CheckpointLoader._get_checkpoint_loader = classmethod(_secure_dispatch(current))
