"""``weights_only`` loading with the allow-list, on a torch that cannot register it.

torch >= 2.5 lets :func:`torch.serialization.add_safe_globals` register a
function under the name a checkpoint uses, which is how
:mod:`.allowlist` makes mmengine's checkpoints load with
``weights_only=True``. An older torch (2.1, beside the prebuilt mmcv 2.1.0
CUDA wheels) cannot: its ``weights_only`` unpickler knows only torch's own
globals and refuses ``HistoryBuffer`` and numpy's arrays, so mmengine's
checkpoints would load only with ``weights_only=False``, which runs whatever
the file pickled.

There, :func:`install` makes :class:`Unpickler` the unpickler of torch's
``weights_only`` loads (``torch.serialization._weights_only_unpickler``, the
module that ``torch.load(..., weights_only=True)`` unpickles with). It allows
what torch's own does (its globals, tensors, storages) plus the validating
rebuild functions of :data:`~.allowlist.SAFE_CHECKPOINT_GLOBALS`, and
nothing else:

- a global is looked up in that allow-list, never imported;
- ``REDUCE`` calls only allow-listed functions; ``NEWOBJ`` builds only
  parameters; ``BUILD`` gives a state only to tensors, parameters, ordered
  dicts and the validating :class:`~.allowlist.CheckedArray` /
  :class:`~.allowlist.DTypeState`;
- ``INST``, ``OBJ``, ``NEWOBJ_EX``, the extension registry and text
  persistent ids are refused.

Refusals raise :class:`pickle.UnpicklingError` in the words of torch's own
unpickler (``GLOBAL <name> was not an allowed global``), so callers name the
object the same way on every torch.
"""
import _compat_pickle
import pickle
import sys
from collections import OrderedDict
from typing import Any, Dict, Optional

import torch

from .allowlist import SAFE_CHECKPOINT_GLOBALS, CheckedArray, DTypeState, rebuild_latin1_bytes

__all__ = ['Unpickler', 'allowed_globals', 'install', 'installed', 'load']

#: torch's own ``weights_only`` unpickler module, before :func:`install`.
_torch_unpickler = getattr(torch.serialization, '_weights_only_unpickler', None)
#: Types that ``BUILD`` may give a state.
_BUILDABLE = (torch.Tensor, torch.nn.Parameter, OrderedDict, CheckedArray, DTypeState)

_allowed: Dict[str, Any] = {}


def allowed_globals() -> Dict[str, Any]:
    """Name -> object of every global that :class:`Unpickler` accepts."""
    if not _allowed:
        if _torch_unpickler is not None and hasattr(_torch_unpickler, '_get_allowed_globals'):
            _allowed.update(_torch_unpickler._get_allowed_globals())
        _allowed['_codecs.encode'] = rebuild_latin1_bytes
        for entry in SAFE_CHECKPOINT_GLOBALS:
            if isinstance(entry, tuple):
                _allowed[entry[1]] = entry[0]
            else:
                _allowed[f'{entry.__module__}.{entry.__qualname__}'] = entry
    return _allowed


def _refuse(message: str):
    raise pickle.UnpicklingError(message)


class Unpickler(pickle._Unpickler):
    """Python's unpickler restricted to :func:`allowed_globals` (see the module)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f'{module}.{name}'
        allowed = allowed_globals()
        if full not in allowed:
            _refuse(f'GLOBAL {full} was not an allowed global by default (mmseg_attn\'s '
                    'weights_only unpickler)')
        return allowed[full]

    def load_reduce(self):
        func = self.stack[-2]
        if not any(func is value for value in allowed_globals().values()):
            _refuse(f'Trying to call reduce for unrecognized function {func!r:.80}')
        super().load_reduce()

    def load_newobj(self):
        if self.stack[-2] is not torch.nn.Parameter:
            _refuse(f'Trying to instantiate unsupported class {self.stack[-2]!r:.80}')
        super().load_newobj()

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        kind = type(inst)
        if kind is torch.Tensor:
            inst.set_(*state)
        elif kind is OrderedDict:
            inst.__dict__.update(state)
        elif kind in _BUILDABLE:
            inst.__setstate__(state)
        else:
            _refuse(f'Can only build Tensor, parameter or dict objects, but got {kind}')

    def _refused_opcode(self):
        _refuse('the pickle uses an opcode that creates arbitrary objects (INST, OBJ, '
                'NEWOBJ_EX, EXT or PERSID), which no checkpoint needs')

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.BUILD[0]] = load_build
    for _opcode in (pickle.INST, pickle.OBJ, pickle.NEWOBJ_EX, pickle.EXT1, pickle.EXT2,
                    pickle.EXT4, pickle.PERSID):
        dispatch[_opcode[0]] = _refused_opcode
    del _opcode


def __getattr__(name: str) -> Any:
    """The rest of torch's module (``add_safe_globals`` of torch 2.4 calls into it);
    what it registers there does not widen this unpickler's allow-list."""
    if _torch_unpickler is None or name.startswith('__'):
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(_torch_unpickler, name)


def load(file, *, encoding: str = 'ASCII', **kwargs) -> Any:
    """Unpickle one object of ``file`` with :class:`Unpickler`."""
    return Unpickler(file, encoding=encoding, **kwargs).load()


def installed() -> bool:
    """Whether torch's ``weights_only`` loads unpickle with this module."""
    return getattr(torch.serialization, '_weights_only_unpickler', None) is sys.modules[__name__]


def install() -> bool:
    """Make this module the unpickler of torch's ``weights_only`` loads.

    Returns:
        bool: Whether it is installed (False where torch has no
        ``torch.serialization._weights_only_unpickler`` to replace).
    """
    if _torch_unpickler is None or not hasattr(_torch_unpickler, 'Unpickler'):
        return False
    torch.serialization._weights_only_unpickler = sys.modules[__name__]
    return True


def uninstall(previous: Optional[Any] = None) -> None:
    """Give torch its own ``weights_only`` unpickler back (for tests)."""
    torch.serialization._weights_only_unpickler = previous or _torch_unpickler
