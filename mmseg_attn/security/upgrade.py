"""Rewriting a checkpoint that the user trusts, so that it loads securely.

The only place where mmseg_attn unpickles a file without ``weights_only``;
it runs only on an explicit request naming the file
(``tools/model_converters/upgrade_checkpoint.py SRC DST --trust``).
"""
from typing import Any, List, Set, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .atomic import atomic_open
from .errors import CheckpointError, UpgradeError
from .loader import load_checkpoint_file

__all__ = ['find_unloadable_objects', 'rewrite_trusted_checkpoint']

_PLAIN = (str, bytes, bytearray, int, float, complex, bool, type(None), torch.Tensor, torch.Size,
          torch.dtype, torch.device, HistoryBuffer)


def find_unloadable_objects(obj: Any, limit: int = 5) -> List[Tuple[str, str]]:
    """``(where, type)`` of objects that ``weights_only`` loading refuses.

    Walks dicts, lists, tuples and sets; accepts tensors, numbers, strings,
    ``HistoryBuffer`` and numeric numpy arrays, scalars and dtypes.
    """
    found: List[Tuple[str, str]] = []
    seen: Set[int] = set()
    stack = [('checkpoint', obj)]
    while stack and len(found) < limit:
        where, value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (np.ndarray, np.generic, np.dtype)):
            kind = value.kind if isinstance(value, np.dtype) else value.dtype.kind
            if kind not in 'biufc':
                found.append((where, f'numpy {type(value).__name__} of dtype kind {kind!r}'))
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if not isinstance(key, (str, int, float, bool, type(None), tuple)):
                    found.append((f'a key of {where}', _type_name(key)))
                stack.append((f'{where}[{key!r}]', item))
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend((f'{where}[{i}]', item) for i, item in reversed(list(enumerate(value))))
        elif not isinstance(value, _PLAIN) or type(value).__module__ not in (
                'builtins', 'torch', 'torch.nn.parameter', 'mmengine.logging.history_buffer'):
            found.append((where, _type_name(value)))
    return found


def _type_name(value) -> str:
    return f'{type(value).__module__}.{type(value).__qualname__}'


def rewrite_trusted_checkpoint(src: str, dst: str) -> None:
    """Re-save a checkpoint that the user trusts in the allow-listed format.

    This is the only place where mmseg_attn unpickles a file without
    ``weights_only``; it runs only on an explicit request naming the file.
    ``dst`` is written atomically and only if it then loads with
    :func:`load_checkpoint_file`; otherwise it is not written and
    :class:`UpgradeError` names the objects that block it.
    """
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)

    def verify(tmp: str) -> None:
        try:
            load_checkpoint_file(tmp, 'cpu')
        except CheckpointError as e:
            blockers = find_unloadable_objects(checkpoint)
            if blockers:
                listed = '; '.join(f'{where} is a {kind}' for where, kind in blockers)
                why = (f'{listed}. weights_only loading refuses such objects (they could run '
                       'code), and mmseg_attn cannot convert them: remove them or replace them '
                       'by plain data (tensors, numbers, strings, lists, dicts) and save again')
            else:
                why = f'the rewritten file still does not load securely: {e.problem}'
            raise UpgradeError(dst, why, note=f'from {src}') from None

    with atomic_open(dst, verify=verify) as f:
        torch.save(checkpoint, f)
