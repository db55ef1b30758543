"""The allow-list of ``weights_only`` loading: validating rebuild functions.

torch's ``weights_only`` unpickler calls an allow-listed function with the
arguments stored in the file (``REDUCE``) and hands an allow-listed object
whatever state the file holds (``BUILD``). Allow-listing mmengine's and
numpy's classes themselves would therefore let a checkpoint give them any
state: replace ``HistoryBuffer``'s class-wide statistics table, build an
``int64`` dtype that claims to hold Python objects, or ask numpy for an
array of any size. Instead, the names that mmengine checkpoints use are
mapped to the functions of this module, which accept exactly the forms
that numpy and this package write and check every value:

- ``mmengine.logging.history_buffer.HistoryBuffer``: :func:`rebuild_history_buffer`;
- ``numpy._core.multiarray._reconstruct`` (and ``numpy.core...``, numpy 1.x):
  :func:`reconstruct_array`; ``numpy.ndarray`` only as its first argument;
- ``numpy.dtype``: :class:`DTypeState`;
- ``numpy._core.multiarray.scalar`` (and ``numpy.core...``): :func:`rebuild_scalar`;
- ``builtins.bytes`` (how protocol 2 writes ``b''``): :func:`rebuild_empty_bytes`.

An array is rebuilt as a :class:`CheckedArray` (an ``ndarray`` subclass
whose ``__setstate__`` validates dtype, shape and size before numpy sees
them) and a dtype as a :class:`DTypeState`;
:func:`resolve_numpy` turns both into plain numpy objects after loading.
The objects these functions return are not allow-listed types, so a file
cannot give them a state afterwards.
"""
import math
import pickle
from typing import Any, Dict, List, Set, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'CheckedArray', 'DTypeState', 'SAFE_CHECKPOINT_GLOBALS', 'allowed_global_names',
    'install_allow_list', 'rebuild_empty_bytes', 'rebuild_history_buffer', 'rebuild_latin1_bytes',
    'rebuild_scalar', 'reconstruct_array', 'resolve_numpy'
]

#: numpy type strings (as ``numpy.dtype`` is pickled) accepted in a checkpoint.
NUMERIC_TYPESTRS = ('b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8',
                    'c8', 'c16')
#: Most dimensions of an array in a checkpoint (numpy's own limit is 64).
MAX_NDIM = 32
#: Largest ``max_length`` of a HistoryBuffer in a checkpoint (mmengine's default is 1e6).
MAX_HISTORY_LENGTH = 10**8


def _refuse(message: str):
    raise pickle.UnpicklingError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class DTypeState:
    """A numpy dtype as pickled (``numpy.dtype(typestr, align, copy)`` + state).

    Only the numeric and bool dtypes of :data:`NUMERIC_TYPESTRS` with
    numpy's default state (no fields, no sub-array, the dtype's own flags)
    are accepted. :attr:`dtype` is the real :class:`numpy.dtype`.
    """
    __slots__ = ('dtype', '_built')
    __hash__ = None  # never a dict key or set member in a checkpoint

    def __init__(self, typestr, align=False, copy=True):
        if not isinstance(typestr, str) or typestr not in NUMERIC_TYPESTRS:
            _refuse(f'numpy dtype {typestr!r} is not one of the numeric dtypes '
                    f'{NUMERIC_TYPESTRS} that a checkpoint may hold')
        if align not in (False, 0) or copy not in (True, 1) or type(align) not in (bool, int) \
                or type(copy) not in (bool, int):
            _refuse(f'numpy dtype {typestr!r} pickled with unexpected arguments '
                    f'(align={align!r}, copy={copy!r})')
        self.dtype = np.dtype(typestr)
        self._built = False

    def __setstate__(self, state):
        if not hasattr(self, 'dtype'):
            _refuse('numpy dtype created without its type')
        if self._built:
            _refuse('numpy dtype given a state twice')
        if not isinstance(state, tuple) or len(state) not in (8, 9):
            _refuse(f'numpy dtype state {state!r:.80} is not the state numpy writes')
        version, byteorder, subarray, names, fields, elsize, alignment, flags = state[:8]
        expected = (4 if len(state) == 9 else 3)
        if (version != expected or not _is_int(version) or subarray is not None
                or names is not None or fields is not None or elsize != -1
                or alignment != -1 or flags != self.dtype.flags or not _is_int(flags)
                or (len(state) == 9 and state[8] is not None)):
            _refuse(f'numpy dtype {self.dtype} with the state {state!r:.120}, which numpy does '
                    'not write for it (fields, sub-arrays or flags of another dtype)')
        single = self.dtype.itemsize == 1
        if byteorder not in (('|', ) if single else ('<', '>', '=')):
            _refuse(f'numpy dtype {self.dtype} with byte order {byteorder!r}')
        if byteorder in ('<', '>'):
            self.dtype = self.dtype.newbyteorder(byteorder)
        self._built = True


def _as_dtype(dtype) -> np.dtype:
    if isinstance(dtype, DTypeState) and hasattr(dtype, 'dtype'):
        return dtype.dtype
    _refuse(f'expected a numpy dtype, got {type(dtype).__name__}')


def _ndarray_marker(*args, **kwargs):
    """Stands for ``numpy.ndarray``, which a checkpoint may only name as the
    first argument of ``_reconstruct``."""
    _refuse('numpy.ndarray called directly: numpy writes arrays through _reconstruct')


class CheckedArray(np.ndarray):
    """An ``ndarray`` whose pickled state is validated before numpy sees it.

    Created only by :func:`reconstruct_array`; pickles back as a plain
    ``ndarray``.
    """

    def __new__(cls, *args, **kwargs):
        _refuse('CheckedArray cannot be created from a checkpoint')

    def __setstate__(self, state):
        if self.__dict__.get('_state_given', False):
            _refuse('numpy array given a state twice')
        if not isinstance(state, tuple) or len(state) != 5:
            _refuse('numpy array state is not the 5-tuple that numpy writes')
        version, shape, dtype, is_fortran, raw = state
        dtype = _as_dtype(dtype)
        if version != 1 or not _is_int(version):
            _refuse(f'numpy array state version {version!r}')
        if (not isinstance(shape, tuple) or len(shape) > MAX_NDIM
                or not all(_is_int(n) and n >= 0 for n in shape)):
            _refuse(f'numpy array shape {shape!r:.80} is not a tuple of at most {MAX_NDIM} '
                    'sizes >= 0')
        if not isinstance(is_fortran, bool):
            _refuse(f'numpy array order flag {is_fortran!r:.40}')
        if not isinstance(raw, (bytes, bytearray)):
            _refuse(f'numpy array data of type {type(raw).__name__} (numeric arrays store '
                    'bytes)')
        if math.prod(shape) * dtype.itemsize != len(raw):
            _refuse(f'numpy array of shape {shape} and dtype {dtype} needs '
                    f'{math.prod(shape) * dtype.itemsize} bytes, the file holds {len(raw)}')
        if dtype.kind == 'b' and raw and max(raw) > 1:
            _refuse('bool numpy array holding bytes other than 0 and 1')
        np.ndarray.__setstate__(self, (1, shape, dtype, is_fortran, bytes(raw)))
        self.__dict__['_state_given'] = True

    def __reduce_ex__(self, protocol):
        return self.view(np.ndarray).__reduce_ex__(protocol)

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def reconstruct_array(cls, shape, typecode) -> CheckedArray:
    """``numpy._core.multiarray._reconstruct`` for the one call numpy writes.

    numpy pickles every array as ``_reconstruct(ndarray, (0,), b'b')``
    followed by its state; any other size or type is refused.
    """
    if cls is not _ndarray_marker or shape != (0, ) or typecode != b'b':
        _refuse(f'numpy _reconstruct called with ({getattr(cls, "__name__", cls)!r:.40}, '
                f'{shape!r:.40}, {typecode!r:.20}), not the (ndarray, (0,), b"b") numpy writes')
    return np.ndarray.__new__(CheckedArray, (0, ), 'b')


def rebuild_scalar(dtype, data) -> np.generic:
    """``numpy._core.multiarray.scalar`` for numeric scalars (``np.float64(0.1)``)."""
    dtype = _as_dtype(dtype)
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        _refuse(f'numpy {dtype} scalar with {len(data) if isinstance(data, bytes) else data!r:.40}'
                f' bytes instead of {dtype.itemsize}')
    if dtype.kind == 'b' and data[0] > 1:
        _refuse('numpy bool scalar holding a byte other than 0 and 1')
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def rebuild_history_buffer(log_history, count_history, max_length) -> HistoryBuffer:
    """Rebuild a :class:`~mmengine.logging.HistoryBuffer` from its two arrays
    and ``max_length`` (as :mod:`mmseg_attn.compat` pickles it).

    The arrays must be 1-D, numeric and of equal length, at most
    ``max_length`` long; nothing else of the class (its statistics table) is
    taken from the file.
    """
    arrays = []
    for name, array in (('log_history', log_history), ('count_history', count_history)):
        if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype.kind not in 'biuf':
            _refuse(f'HistoryBuffer {name} must be a 1-D numeric numpy array, got '
                    f'{type(array).__name__} {getattr(array, "shape", "")}')
        arrays.append(np.array(array))
    if not _is_int(max_length) or not 1 <= max_length <= MAX_HISTORY_LENGTH:
        _refuse(f'HistoryBuffer max_length {max_length!r:.40} is not an int in '
                f'1..{MAX_HISTORY_LENGTH}')
    if len(arrays[0]) != len(arrays[1]) or len(arrays[0]) > max_length:
        _refuse(f'HistoryBuffer with {len(arrays[0])} values, {len(arrays[1])} counts and '
                f'max_length {max_length}')
    return HistoryBuffer(arrays[0], arrays[1], max_length)


def rebuild_empty_bytes(*args) -> bytes:
    """``bytes()``: how pickle protocol 2 (torch.save's) writes ``b''``, e.g.
    the data of an empty numpy array. Only the call without arguments is
    accepted (``bytes(n)`` would allocate n bytes)."""
    if args:
        _refuse(f'bytes called with arguments {args!r:.60}; pickle writes only bytes()')
    return b''


def rebuild_latin1_bytes(text, encoding) -> bytes:
    """``_codecs.encode(text, 'latin1')``: how pickle protocol 2 writes bytes
    (torch >= 2.5 allows ``_codecs.encode`` itself; the unpickler of
    :mod:`.unpickler` takes this instead). Only that call is accepted."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        _refuse(f'_codecs.encode called with ({type(text).__name__}, {encoding!r:.20}); pickle '
                "writes only (str, 'latin1')")
    return text.encode('latin1')


_NUMPY_MODULES = ('numpy._core.multiarray', 'numpy.core.multiarray')

#: ``(function, name in the file)`` pairs given to
#: :func:`torch.serialization.add_safe_globals`, plus :class:`CheckedArray`
#: (allow-listed under its own name so that its validating
#: ``__setstate__`` may run).
SAFE_CHECKPOINT_GLOBALS: List[Any] = [
    (rebuild_history_buffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (_ndarray_marker, 'numpy.ndarray'),
    (DTypeState, 'numpy.dtype'),
    *[(reconstruct_array, f'{module}._reconstruct') for module in _NUMPY_MODULES],
    *[(rebuild_scalar, f'{module}.scalar') for module in _NUMPY_MODULES],
    (rebuild_empty_bytes, 'builtins.bytes'),
    CheckedArray,
]


def _superseded() -> Set[Any]:
    """Classes that this allow-list replaces by validating functions."""
    dtype_classes = {type(np.dtype(t)) for t in NUMERIC_TYPESTRS}
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    return {HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar, *dtype_classes}


def install_allow_list() -> bool:
    """Register :data:`SAFE_CHECKPOINT_GLOBALS`; drop the classes they replace.

    A class allow-listed elsewhere under one of our names (``HistoryBuffer``,
    ``numpy.ndarray``, ``numpy.dtype``, ...) would let a file give it a
    state, and would make torch's choice between it and our function depend
    on set order: such entries are removed. Idempotent and cheap; called
    before every secure load.

    Returns:
        bool: False when this torch cannot register a function under another
        name (torch < 2.5), True otherwise.
    """
    serialization = torch.serialization
    if not all(hasattr(serialization, name) for name in _API):
        return False
    current = serialization.get_safe_globals()
    superseded = _superseded()
    stale = [g for g in current if not isinstance(g, tuple) and g in superseded]
    missing = [g for g in SAFE_CHECKPOINT_GLOBALS if g not in current]
    if stale:
        serialization.clear_safe_globals()
        serialization.add_safe_globals([g for g in current if g not in stale])
    if missing:
        serialization.add_safe_globals(missing)
    try:  # torch < 2.5 cannot register a function under another name
        from torch._weights_only_unpickler import _get_user_allowed_globals
        if _get_user_allowed_globals().get('numpy.dtype') is DTypeState:
            return True
    except Exception:
        pass
    remaining = [g for g in serialization.get_safe_globals() if g not in SAFE_CHECKPOINT_GLOBALS]
    serialization.clear_safe_globals()
    serialization.add_safe_globals(remaining)
    return False


_API = ('add_safe_globals', 'get_safe_globals', 'clear_safe_globals')


def allowed_global_names() -> Set[str]:
    """Every global name that a ``weights_only`` load accepts right now."""
    names = {name for g in SAFE_CHECKPOINT_GLOBALS for name in
             ([g[1]] if isinstance(g, tuple) else [f'{g.__module__}.{g.__qualname__}'])}
    try:
        from torch._weights_only_unpickler import _get_allowed_globals, _get_user_allowed_globals
        names |= set(_get_allowed_globals()) | set(_get_user_allowed_globals())
    except Exception:  # private API: fall back to the names torch has allowed for years
        names |= {'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2',
                  'torch._utils._rebuild_parameter', 'torch.FloatStorage', '_codecs.encode'}
    return names


def resolve_numpy(obj: Any, max_depth: int = 200) -> Any:
    """Replace the :class:`CheckedArray` / :class:`DTypeState` objects in a
    loaded checkpoint by plain ``ndarray`` / ``dtype`` objects.

    Walks dicts, lists, tuples and sets (shared and cyclic containers once);
    tensors and other objects are left as they are.

    Raises:
        ValueError: The containers are nested deeper than ``max_depth``.
    """
    done: Dict[int, Any] = {}

    def walk(value, depth):
        if isinstance(value, CheckedArray):
            return value.view(np.ndarray)
        if isinstance(value, DTypeState):
            return _as_dtype(value)
        if not isinstance(value, (dict, list, tuple, set)):
            return value
        key = id(value)
        if key in done:
            return done[key]
        if depth > max_depth:
            raise ValueError(f'containers nested deeper than {max_depth} levels')
        if isinstance(value, dict):
            done[key] = value
            for k in list(value):
                value[k] = walk(value[k], depth + 1)
            return value
        if isinstance(value, list):
            done[key] = value
            value[:] = [walk(v, depth + 1) for v in value]
            return value
        done[key] = value  # a tuple or set holding itself is impossible to build
        items = [walk(v, depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        new = type(value)(items) if not hasattr(value, '_fields') else type(value)(*items)
        done[key] = new
        return new

    return walk(obj, 0)


def history_buffer_reducer(buffer: HistoryBuffer) -> Tuple[Any, tuple]:
    """Pickle a HistoryBuffer as its two arrays and ``max_length``
    (registered with :mod:`copyreg`; loads through :func:`rebuild_history_buffer`)."""
    log_history, count_history = buffer.data
    return HistoryBuffer, (log_history, count_history, buffer.max_length)
