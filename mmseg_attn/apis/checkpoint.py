# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Loading a checkpoint into a model strictly: a checkpoint of another model is refused.

mmengine's ``load_checkpoint`` loads with ``strict=False``: a checkpoint of
another model (a BiSeNet's weights given to a FLANet config) loads without
an error, and the model runs on its random initialisation. Every path of this
package that loads weights into a model (:func:`~.inference.build_segmentor`
and through it export, pictures, benchmarks and deployment evaluation; the
inferencer) goes through :func:`load_weights`, which compares the checkpoint
with the model first and raises :class:`CheckpointMismatchError` naming the
missing, unexpected and mis-shaped keys (a few of each, and their counts).
The Runner's own loading (``load_from``, ``--resume``, ``tools/test.py``) is
checked by :class:`mmseg_attn.engine.hooks.CheckpointShapeHook` with the same
comparison.
"""
import re
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'CheckpointMismatchError', 'StateDictDiff', 'compare_state_dict', 'find_shape_mismatches',
    'load_weights', 'state_dict_of'
]

#: Keys of this prefix may be missing or unexpected: the auxiliary heads do not
#: run at inference (a training checkpoint has them, an inference model not).
AUXILIARY = 'auxiliary_head.'


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model it is loaded into."""


class StateDictDiff(NamedTuple):
    """What a checkpoint lacks, has beyond, and holds in another shape than a model."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]  # (key, checkpoint shape, model shape)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)


def state_dict_of(checkpoint: dict) -> dict:
    """The state dict of a checkpoint (its ``state_dict``, or itself), without the
    ``module.`` prefix of a wrapped (DDP) model, as mmengine strips it."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f'the checkpoint holds no state dict (a '
                                      f'{type(state).__name__})')
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def find_shape_mismatches(model: nn.Module, checkpoint: dict,
                          allow: Sequence[str] = ()) -> List[Tuple[str, tuple, tuple]]:
    """``(key, checkpoint shape, model shape)`` of the keys that the model and the
    checkpoint both have in other shapes; keys matching a regular expression of
    ``allow`` (``re.search``) are not reported."""
    ckpt = state_dict_of(checkpoint)
    found = []
    for key, value in model.state_dict().items():
        other = ckpt.get(key)
        if not isinstance(other, torch.Tensor) or other.shape == value.shape:
            continue
        if any(re.search(pattern, key) for pattern in allow):
            continue
        found.append((key, tuple(other.shape), tuple(value.shape)))
    return found


def compare_state_dict(model: nn.Module, checkpoint: dict,
                       optional: Sequence[str] = (AUXILIARY, )) -> StateDictDiff:
    """The keys a checkpoint misses, has beyond the model and holds in another shape.

    Args:
        model (nn.Module): The model.
        checkpoint (dict): A checkpoint, with or without ``state_dict``.
        optional (Sequence[str]): Key prefixes that may be missing or
            unexpected. Defaults to the auxiliary heads.
    """
    ckpt, model_keys = state_dict_of(checkpoint), set(model.state_dict())
    missing = sorted(k for k in model_keys - set(ckpt) if not k.startswith(tuple(optional)))
    unexpected = sorted(k for k in set(ckpt) - model_keys if not k.startswith(tuple(optional)))
    return StateDictDiff(missing, unexpected, find_shape_mismatches(model, checkpoint))


def _few(items: Sequence[str], limit: int = 4) -> str:
    return ', '.join(items[:limit]) + (', ...' if len(items) > limit else '')


def mismatch_message(diff: StateDictDiff, source: str, model: nn.Module) -> str:
    """The refusal of a checkpoint that does not fit ``model``, naming the keys."""
    parts = []
    if diff.missing:
        parts.append(f'{len(diff.missing)} missing key(s) ({_few(diff.missing)})')
    if diff.unexpected:
        parts.append(f'{len(diff.unexpected)} unexpected key(s) ({_few(diff.unexpected)})')
    if diff.mismatched:
        shown = '; '.join(f'{k}: checkpoint {list(c)}, model {list(m)}'
                          for k, c, m in diff.mismatched[:4])
        more = '; ...' if len(diff.mismatched) > 4 else ''
        parts.append(f'{len(diff.mismatched)} tensor(s) of another shape ({shown}{more})')
    config = getattr(getattr(model, 'cfg', None), 'filename', None)
    where = f' of {config}' if config else ''
    return (f'The checkpoint {source!r} does not fit the {type(model).__name__}{where}: '
            + ', '.join(parts) + '. It is a checkpoint of another model, of another '
            'num_classes or width, or one that must be converted first '
            '(tools/model_converters).')


def load_weights(model: nn.Module, filename: str, map_location='cpu') -> dict:
    """Load a checkpoint into ``model`` strictly (the auxiliary heads aside).

    The file is read by mmengine's ``CheckpointLoader`` (every scheme, with
    the secure loading of :mod:`mmseg_attn.security`).

    Returns:
        dict: The checkpoint (its ``meta`` has the dataset's classes).

    Raises:
        CheckpointMismatchError: The checkpoint does not fit the model (the
            message names the keys).
    """
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'The checkpoint {filename!r} holds a '
                                      f'{type(checkpoint).__name__}, not a state dict')
    diff = compare_state_dict(model, checkpoint)
    if diff:
        raise CheckpointMismatchError(mismatch_message(diff, filename, model))
    model.load_state_dict(state_dict_of(checkpoint), strict=False)  # the auxiliary heads aside
    return checkpoint
