# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Refuse a checkpoint whose tensors do not fit the model the runner built."""
import re
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from mmseg_attn.apis.checkpoint import (
    CheckpointMismatchError,
    find_shape_mismatches,
    state_dict_of,
)

__all__ = ['CheckpointShapeHook', 'CheckpointShapeMismatchError']


class CheckpointShapeMismatchError(CheckpointMismatchError):
    """A checkpoint that the Runner loads does not fit its model."""


@HOOKS.register_module()
class CheckpointShapeHook(Hook):
    """Turn mmengine's "size mismatch" warning into an error naming the keys.

    mmengine's Runner loads ``load_from``, ``--resume`` and the checkpoint of
    ``tools/test.py`` with ``strict=False``: a tensor whose shape differs
    from the model's (a head built for 150 classes, a checkpoint trained on
    19) is skipped with a warning in a long log, and the run trains or
    evaluates a randomly initialised layer. This hook compares every tensor
    of the checkpoint with the model before mmengine loads it
    (``after_load_checkpoint``) and raises
    :class:`CheckpointShapeMismatchError` naming each key, the checkpoint's
    shape and the model's shape. A checkpoint that shares no key at all with
    the model (a checkpoint of another model) is refused too.

    Fine-tuning on a new set of classes replaces the classifier on purpose:
    name it in ``allow_mismatch``, e.g.
    ``dict(type='CheckpointShapeHook', allow_mismatch=['conv_seg'])``, and
    mmengine skips those tensors with its usual warning.

    Only the Runner's own loading passes through hooks; ``init_cfg``
    (pretrained backbones) and :func:`mmseg.apis.init_model` are not
    affected.

    Args:
        allow_mismatch (Sequence[str]): Regular expressions of state dict keys
            (``re.search``) whose shapes may differ. Defaults to ().
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_mismatch: Sequence[str] = ()) -> None:
        if isinstance(allow_mismatch, str) or not all(
                isinstance(p, str) for p in allow_mismatch):
            raise TypeError('allow_mismatch must be a list of regular expressions (str), '
                            f'got {allow_mismatch!r}')
        for pattern in allow_mismatch:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f'allow_mismatch holds an invalid regular expression '
                                 f'{pattern!r}: {e}') from None
        self.allow_mismatch = tuple(allow_mismatch)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = runner.cfg.get('load_from') or 'the latest checkpoint of the work_dir'
        model_keys = set(model.state_dict())
        ckpt = state_dict_of(checkpoint)
        if model_keys and not model_keys & set(ckpt):
            example = next(iter(ckpt), None)
            raise CheckpointShapeMismatchError(
                f'The checkpoint {source!r} shares no tensor name with '
                f'{type(model).__name__}: it holds {len(ckpt)} tensors (e.g. {example!r}) and '
                f'the model expects names such as {sorted(model_keys)[0]!r}. It is a checkpoint '
                'of another model, or one that must be converted first (tools/model_converters).')
        mismatches = find_shape_mismatches(model, checkpoint, self.allow_mismatch)
        if mismatches:
            lines = '\n'.join(f'  {key}: checkpoint {list(c)}, model {list(m)}'
                              for key, c, m in mismatches)
            raise CheckpointShapeMismatchError(
                f'The checkpoint {source!r} does not fit the model: {len(mismatches)} tensor(s) '
                f'have another shape in the checkpoint than in the model:\n{lines}\n'
                'A different num_classes in the head, or a different in_channels/channels, '
                'gives this. To fine-tune on another set of classes on purpose, allow the '
                'classifier to be re-initialised: custom_hooks=[..., '
                'dict(type=\'CheckpointShapeHook\', allow_mismatch=[\'conv_seg\'])].')
