# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Factory that lets heads, necks and backbones take ``attention_cfg``, and
what callers need to know about a built block."""
import inspect
from typing import List, Optional, Union

import torch.nn as nn
from mmseg.registry import MODELS

from .utils import check_channels


def build_attention(cfg: Optional[Union[dict, str]], in_channels: int,
                    **kwargs) -> Optional[nn.Module]:
    """Build an attention block for ``in_channels`` channels from a config.

    Args:
        cfg (dict | str | None): The block config, e.g.
            ``dict(type='CBAM', ratio=8)``; a string is short for
            ``dict(type=cfg)``. A falsy value (None, ``{}``, ``''``) means
            no attention and returns None.
        in_channels (int): Channels of the features the block refines. A
            ``cfg`` that names other ``in_channels`` is an error.
        **kwargs: Defaults for the block (e.g. ``norm_cfg`` of the caller);
            keys in ``cfg`` override them.

    Returns:
        nn.Module | None: The block, or None for a falsy ``cfg``.

    Example:
        >>> block = build_attention(dict(type='SqueezeExcitation'), 64)
        >>> build_attention(None, 64) is None
        True
    """
    if not cfg:
        return None
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    if not isinstance(cfg, dict):
        raise TypeError(f'cfg must be None, a str or a dict with a "type" key, '
                        f'got {type(cfg).__name__} {cfg!r}')
    if 'type' not in cfg:
        raise KeyError(f'cfg must contain the key "type", got {cfg!r}')
    check_channels(in_channels)
    if 'in_channels' in cfg and cfg['in_channels'] != in_channels:
        raise ValueError(f'cfg sets in_channels={cfg["in_channels"]!r} but the block is built '
                         f'for in_channels={in_channels}')
    if isinstance(cfg['type'], str) and MODELS.get(cfg['type']) is None:
        raise KeyError(f'unknown attention type {cfg["type"]!r}: it is not registered in '
                       f'mmseg\'s MODELS registry. Registered attention blocks: '
                       f'{", ".join(registered_attention_blocks())}. A block of another package '
                       'needs that package imported first (custom_imports in the config).')
    args = dict(kwargs)
    args.update(cfg)
    args['in_channels'] = in_channels
    return MODELS.build(args)


def registered_attention_blocks() -> List[str]:
    """Names of the blocks of :mod:`mmseg_attn.models.layers` in ``MODELS``."""
    package = __name__.rsplit('.', 1)[0]
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if getattr(cls, '__module__', '').startswith(package + '.'))


def num_inputs(block: nn.Module) -> int:
    """How many feature maps ``block.forward`` takes: 1, or 2 for fusion blocks.

    The blocks of this package say it with their ``num_inputs`` class
    attribute (FFM, AFF and iAFF take two). For a block of another package
    without that attribute it is read from the signature of its
    ``forward``: the number of positional parameters without a default.
    """
    declared = getattr(block, 'num_inputs', None)
    if declared is not None:
        return declared
    return sum(1 for p in inspect.signature(block.forward).parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)
