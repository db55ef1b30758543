# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Checkpoint converters (as mmseg keeps them in ``mmseg/models/utils/ckpt_convert.py``).

:func:`bisenetv1_converter`: mmseg keeps BiSeNetV1 in one backbone
(``backbone.context_path.*``, ``backbone.spatial_path.*``, ``backbone.ffm.*``);
mmseg_attn splits it into ``BiSeNetBackbone`` (spatial path + context
backbone), ``FFMNeck`` (ARMs, global context, FFM) and ``BiSeNetHead``. The
converted state dict loads into the mmseg-variant configs
(``configs/bisenet/bisenetv1-mmseg_*``) and gives mmseg's logits.
``tools/model_converters/bisenetv1_mmseg2attn.py`` is its command line.
"""
from collections import OrderedDict
from typing import List, Mapping, Tuple

import torch

__all__ = ['bisenetv1_converter']

# (source prefix, target prefix), first match wins.
KEY_MAP: Tuple[Tuple[str, str], ...] = (
    ('backbone.context_path.backbone.', 'backbone.context_backbone.'),
    ('backbone.context_path.gap_conv.1.', 'neck.global_conv.'),
    ('backbone.context_path.arm16.', 'neck.arm16.'),
    ('backbone.context_path.arm32.', 'neck.arm32.'),
    ('backbone.context_path.conv_head32.', 'neck.conv_head32.'),
    ('backbone.context_path.conv_head16.', 'neck.conv_head16.'),
    ('backbone.spatial_path.', 'backbone.spatial_path.'),
    ('backbone.ffm.', 'neck.ffm.'),
    ('decode_head.', 'decode_head.'),
    ('auxiliary_head.', 'auxiliary_head.'),
)

# Parts every BiSeNetV1 segmentor checkpoint has.
REQUIRED_PREFIXES: Tuple[str, ...] = tuple(src for src, _ in KEY_MAP[:8]) + ('decode_head.', )

# mmseg head parts that mmseg_attn's BiSeNetHead has no counterpart for.
UNSUPPORTED_PREFIXES: Tuple[str, ...] = ('decode_head.conv_cat.', )


def _top_prefixes(keys: List[str], depth: int = 3, limit: int = 8) -> List[str]:
    """The distinct leading ``depth`` name parts of ``keys`` (for messages)."""
    seen: List[str] = []
    for key in keys:
        prefix = '.'.join(key.split('.')[:depth])
        if prefix not in seen:
            seen.append(prefix)
    return seen[:limit] + (['...'] if len(seen) > limit else [])


def bisenetv1_converter(state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Map the state dict of an mmseg ``BiSeNetV1`` segmentor to mmseg_attn.

    Args:
        state_dict (Mapping[str, Tensor]): The ``state_dict`` of mmseg's
            ``EncoderDecoder`` with a ``BiSeNetV1`` backbone (a ``module.``
            prefix of a wrapped model is removed).

    Returns:
        OrderedDict[str, Tensor]: The state dict of mmseg_attn's
        ``EncoderDecoder`` with ``BiSeNetBackbone``, ``FFMNeck`` and
        ``BiSeNetHead`` (same tensors, new names).

    Raises:
        ValueError: If the checkpoint is not one of mmseg's BiSeNetV1 (the
            message says which parts were expected and which were found).
    """
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise ValueError('expected a non-empty state dict of mmseg\'s BiSeNetV1 segmentor, '
                         f'got {type(state_dict).__name__}')
    keys = list(state_dict)
    if all(k.startswith('module.') for k in keys):
        keys = [k[len('module.'):] for k in keys]
        state_dict = OrderedDict(zip(keys, state_dict.values()))

    missing = [p for p in REQUIRED_PREFIXES if not any(k.startswith(p) for k in keys)]
    if missing:
        hint = ''
        if any(k.startswith(('backbone.context_backbone.', 'neck.ffm.')) for k in keys):
            hint = ' (it looks already converted to the mmseg_attn layout)'
        raise ValueError(
            'not a checkpoint of mmseg\'s BiSeNetV1 segmentor' + hint + ': expected keys '
            f'under {list(REQUIRED_PREFIXES)}, but none under {missing}; '
            f'found keys under {_top_prefixes(keys)}')
    unsupported = [k for k in keys if k.startswith(UNSUPPORTED_PREFIXES)]
    if unsupported:
        raise ValueError('the decode head of this checkpoint uses concat_input=True, which '
                         'BiSeNetHead does not have; found ' + ', '.join(unsupported[:4]))

    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown: List[str] = []
    for key, value in state_dict.items():
        for src, dst in KEY_MAP:
            if key.startswith(src):
                converted[dst + key[len(src):]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            'found keys that mmseg\'s BiSeNetV1 segmentor does not have (expected only keys '
            f'under {[src for src, _ in KEY_MAP]}): {unknown[:8]}'
            + (' ...' if len(unknown) > 8 else ''))
    return converted
