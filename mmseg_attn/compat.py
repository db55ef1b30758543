"""Glue between torch, mmengine and mmcv, applied when ``mmseg_attn`` is imported.

Secure checkpoint loading
-------------------------
torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
writes checkpoints that such a load refuses: its ``message_hub`` holds
:class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays, and a
``HistoryBuffer`` pickled the default way drags ``builtins.getattr`` in.
Turning ``weights_only`` off would let any checkpoint run arbitrary code, so
instead this module

1. makes ``HistoryBuffer`` pickle as plain data (its arrays and max length)
   through a :mod:`copyreg` reducer, so the checkpoints written from now on
   contain no ``getattr``;
2. allow-lists exactly the globals those checkpoints need
   (:data:`SAFE_CHECKPOINT_GLOBALS`) with
   :func:`torch.serialization.add_safe_globals`;
3. replaces mmengine's loader of local files (``load_from``, ``--resume``,
   ``tools/test.py CKPT``) and the download function behind its URL loaders
   (``http(s)://``, ``open-mmlab://``, ``torchvision://``: pretrained init)
   by ones that always pass ``weights_only=True`` and turn a refusal into an
   :class:`UnsafeCheckpointError` naming the file and the way out; the
   local loader also drops ``meta['config']``, a string that mmengine's
   ``Runner.resume`` would execute as a Python config.

Atomic checkpoint files
-----------------------
mmengine writes a checkpoint with a plain ``open(path, 'wb')``: a process
killed during the write leaves a truncated file under the final name.
:func:`setup_atomic_local_writes` makes mmengine's local file backend write to
a temporary file in the same folder and ``os.replace`` it into place, so a
file is either the old one or the complete new one.

A checkpoint written by an mmengine run without this package still carries
``getattr``: a user who trusts such a file rewrites it once with
``python tools/model_converters/upgrade_checkpoint.py SRC DST --trust``
(:func:`rewrite_trusted_checkpoint`).
"""
import copyreg
import os
import os.path as osp
import pickle
import tempfile
import warnings
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'load_checkpoint_file',
    'atomic_write_bytes', 'rewrite_trusted_checkpoint', 'setup_atomic_local_writes',
    'setup_secure_checkpoint_loading'
]

_NUMERIC_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                   'uint64', 'float16', 'float32', 'float64', 'complex64', 'complex128')


def _numpy_globals() -> List[Callable]:
    """The numpy callables and types that a pickled numeric array or scalar uses."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(name)) for name in _NUMERIC_DTYPES]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


#: Everything beyond torch's own tensors and containers that the checkpoints
#: of mmengine's Runner hold, once :class:`HistoryBuffer` pickles as data.
SAFE_CHECKPOINT_GLOBALS: List[Callable] = [HistoryBuffer, *_numpy_globals()]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects outside the allow-list."""


def _reduce_history_buffer(buffer: HistoryBuffer):
    log_history, count_history = buffer.data
    return HistoryBuffer, (log_history, count_history, buffer.max_length)


def _refusal(filename: str, error: Exception) -> UnsafeCheckpointError:
    reason = str(error).strip().splitlines()
    detail = next((line.strip() for line in reason if 'Unsupported' in line
                   or 'global' in line.lower()), reason[0] if reason else '')
    return UnsafeCheckpointError(
        f'Refused to load the checkpoint {filename!r}: it holds pickled objects outside the '
        f'allow-list of mmseg_attn.compat.SAFE_CHECKPOINT_GLOBALS ({detail}). Loading it could '
        'run arbitrary code, so nothing from it was executed. If it is a checkpoint of an '
        'mmengine run made without mmseg_attn and you trust its source, rewrite it once with '
        '`python tools/model_converters/upgrade_checkpoint.py SRC DST --trust` and load DST.')


def load_checkpoint_file(filename: str, map_location=None):
    """``torch.load`` with ``weights_only=True`` and a clear refusal message.

    Args:
        filename (str): Path of a local checkpoint file.
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The file holds objects outside the allow-list.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise _refusal(filename, e) from None


def _load_from_local(filename: str, map_location=None):
    checkpoint = load_checkpoint_file(filename, map_location)
    # Runner.resume() executes meta['config'] as Python (Config.fromstring,
    # only to read the old gpu_ids): code hidden there would run on --resume.
    # mmengine writes the config it needs under meta['cfg'].
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict):
        meta.pop('config', None)
    return checkpoint


def _load_url(url: str, model_dir: Optional[str] = None, map_location=None,
              progress: bool = True):
    """mmengine's ``load_url`` (torch.hub download + cache) with ``weights_only=True``.

    mmengine's ``http(s)://``, ``open-mmlab://``, ``torchvision://`` and
    ``mmcls://`` loaders all download through this one function, which
    torch.hub runs with ``weights_only=False`` unless told otherwise.
    """
    from torch.hub import load_state_dict_from_url
    try:
        return load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location,
                                        progress=progress, weights_only=True)
    except pickle.UnpicklingError as e:
        raise _refusal(url, e) from None


def rewrite_trusted_checkpoint(src: str, dst: str) -> None:
    """Re-save a checkpoint that the user trusts in the allow-listed format.

    This is the only place where mmseg_attn unpickles a file without
    ``weights_only``; it runs only on an explicit request naming the file.
    """
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    torch.save(checkpoint, dst)
    load_checkpoint_file(dst, 'cpu')  # the result must now load securely


def setup_secure_checkpoint_loading() -> None:
    """Install the reducer, the allow-list and the secure mmengine loaders.

    Idempotent; called when ``mmseg_attn`` is imported. torch < 2.4 has no
    allow-list API (``add_safe_globals``): there mmengine keeps loading the
    way it does with that torch, and a warning says so.
    """
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    if not hasattr(torch.serialization, 'add_safe_globals'):
        warnings.warn(
            f'mmseg_attn: torch {torch.__version__} cannot allow-list the types of mmengine '
            'checkpoints for weights_only loading (torch >= 2.4 can); checkpoints load the '
            "way mmengine loads them with this torch. Use torch >= 2.4 for secure loading.",
            stacklevel=2)
        return
    torch.serialization.add_safe_globals(SAFE_CHECKPOINT_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)
    mmengine_checkpoint.load_url = _load_url


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never left half-written.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    and the file is renamed over ``path`` (atomic on POSIX and Windows).
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would give
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_put(self, obj: bytes, filepath) -> None:
    atomic_write_bytes(obj, str(filepath))


def _atomic_put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
    atomic_write_bytes(obj.encode(encoding), str(filepath))


def setup_atomic_local_writes() -> None:
    """Make mmengine's ``LocalBackend.put`` / ``put_text`` atomic (checkpoints)."""
    LocalBackend.put = _atomic_put
    LocalBackend.put_text = _atomic_put_text


setup_secure_checkpoint_loading()
setup_atomic_local_writes()
