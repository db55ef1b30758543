# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention blocks on the outputs of any registered backbone."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ..layers import build_attention, num_inputs

#: Name of the container of the attention blocks (a key prefix in checkpoints).
ATTENTIONS = 'attentions'
#: Attribute name of the inner backbone.
INNER = 'backbone'


def _public_state_dict_hook(module, state_dict, prefix, local_metadata):
    """Drop the inner ``backbone.`` level from the keys of a state dict.

    Keys and their order stay those of the inner backbone, so a checkpoint of
    the plain backbone (or of a segmentor using it) and one of the wrapped
    backbone differ only by the ``attentions.`` keys. The metadata (module
    versions used by e.g. BatchNorm when loading) is kept under both names.
    """
    inner_prefix = prefix + INNER + '.'
    items = [(k, state_dict.pop(k)) for k in list(state_dict) if k.startswith(prefix)]
    for key, value in items:
        if key.startswith(inner_prefix):
            key = prefix + key[len(inner_prefix):]
        state_dict[key] = value
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        for key in list(metadata):
            if key.startswith(inner_prefix):
                metadata.setdefault(prefix + key[len(inner_prefix):], metadata[key])


@MODELS.register_module()
class AttentionBackbone(BaseModule):
    """Apply attention blocks to chosen outputs of any registered backbone.

    The inner backbone is built from its own config (mmseg's, an
    ``mmpretrain.``-scoped one, ``TIMMBackbone`` when timm is installed, ...)
    and left untouched: its ``init_cfg`` (e.g. an ImageNet ``Pretrained``
    init) applies as usual. Each chosen output ``i`` of it is replaced by
    ``attentions[i](output_i)``; the other outputs pass through unchanged.

    Checkpoint keys: the inner backbone is the attribute ``backbone``, but
    :meth:`state_dict` and loading drop that level, so the state dict of the
    wrapper has exactly the keys of the inner backbone plus
    ``attentions.<output index>.<k>.*`` for the ``k``-th block applied to an
    output. Consequently a segmentor checkpoint trained with the plain
    backbone (``backbone.layer1...``) loads into the same segmentor with the
    wrapped backbone with only the attention keys missing (``load_from`` for
    fine-tuning), and the reverse works too. Nested keys
    (``backbone.backbone.*``, as in ``named_parameters()``) are accepted on
    loading as well. ``named_parameters()`` still show the real module path
    (``backbone.backbone.layer1...``), which matters only for
    ``paramwise_cfg`` keys that match a full name.

    Channels of the chosen outputs come from ``in_channels`` or, when it is
    None, from one forward pass of the inner backbone on zeros of shape
    ``infer_shape`` (in eval mode, without gradients) at construction. Every
    forward checks that each chosen output has the channels its blocks were
    built for and raises a ``ValueError`` naming the output index, the
    expected and the found channels otherwise.

    Example:
        >>> backbone = dict(
        ...     type='AttentionBackbone',
        ...     backbone=dict(type='mmpretrain.ResNet', depth=18,
        ...                   out_indices=(0, 1, 2, 3)),
        ...     attention=dict(type='CBAM'),
        ...     indices=(2, 3))

    Args:
        backbone (dict): Config of the inner backbone.
        attention (dict | Sequence): The block(s) to apply. A single config
            is applied (a fresh block each) to every chosen output; a
            sequence gives one entry per chosen output, each a config, a list
            of configs applied in order, or None (no block). Only one-input
            blocks ``(N, C, H, W) -> (N, C, H, W)`` are accepted; each is
            built with ``in_channels`` of its output.
        indices (Sequence[int], optional): Positions in the inner backbone's
            output tuple that get attention. Defaults to None, meaning all.
        in_channels (Sequence[int], optional): Channels of the outputs at
            ``indices`` (one per index; all outputs when ``indices`` is
            None). Defaults to None, meaning inferred.
        infer_shape (Sequence[int]): Shape of the zero input used to infer
            channels. Defaults to (1, 3, 224, 224).
        pretrained (str, optional): Set by mmseg's ``EncoderDecoder`` from its
            own ``pretrained``; becomes the inner backbone's
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
            Defaults to None.
        init_cfg (dict | list[dict], optional): Initialization config of the
            wrapper. A ``Pretrained`` checkpoint given here may hold the keys
            of the plain inner backbone. Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 attention: Union[ConfigType, Sequence],
                 indices: Optional[Sequence[int]] = None,
                 in_channels: Optional[Sequence[int]] = None,
                 infer_shape: Sequence[int] = (1, 3, 224, 224),
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(backbone, dict) or 'type' not in backbone:
            raise TypeError(f'backbone must be a config dict with a "type", got {backbone!r}')
        if pretrained is not None:
            if backbone.get('init_cfg') or backbone.get('pretrained'):
                raise ValueError('pretrained is set but the inner backbone config already '
                                 'has an init_cfg or pretrained; keep only one')
            backbone = dict(backbone, init_cfg=dict(type='Pretrained', checkpoint=pretrained))
        self.backbone = MODELS.build(backbone)
        inner_names = self._inner_names()
        if ATTENTIONS in inner_names:
            raise ValueError(f'the inner backbone {type(self.backbone).__name__} has an '
                             f'attribute named {ATTENTIONS!r}, which AttentionBackbone uses')

        if indices is None and in_channels is not None:
            indices = range(len(in_channels))
        if indices is not None:
            indices = list(indices)
            for i in indices:
                if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                    raise ValueError(f'indices must be non-negative ints (positions in the '
                                     f'output tuple of the backbone), got {tuple(indices)}')
            if len(set(indices)) != len(indices):
                raise ValueError(f'indices must not repeat, got {tuple(indices)}')
        if in_channels is None:
            found = self.infer_channels(infer_shape)
            if indices is None:
                indices = list(range(len(found)))
            for i in indices:
                if i >= len(found):
                    raise ValueError(f'indices has {i}, but {type(self.backbone).__name__} '
                                     f'returns only {len(found)} outputs')
                if found[i] == 0:
                    raise TypeError(f'output {i} of {type(self.backbone).__name__} is not an '
                                    f'(N, C, H, W) tensor, so it cannot get attention')
            in_channels = [found[i] for i in indices]
        else:
            in_channels = list(in_channels)
            if len(in_channels) != len(indices):
                raise ValueError(f'in_channels must have one entry per index in indices '
                                 f'{tuple(indices)}, got {tuple(in_channels)}')
        self.indices = tuple(indices)
        self.in_channels = tuple(in_channels)

        if isinstance(attention, (dict, str)):
            attention = [attention] * len(self.indices)
        if not isinstance(attention, (list, tuple)) or len(attention) != len(self.indices):
            raise ValueError(f'attention must be a config dict or a sequence with one entry '
                             f'per index in indices {self.indices}, got {attention!r}')
        self.attentions = nn.ModuleDict()
        for idx, channels, cfgs in zip(self.indices, self.in_channels, attention):
            if not isinstance(cfgs, (list, tuple)):
                cfgs = [cfgs]
            blocks = []
            for cfg in cfgs:
                block = build_attention(cfg, channels)
                if block is None:
                    continue
                if num_inputs(block) != 1:
                    raise TypeError(f'attention {type(block).__name__} for output {idx} takes '
                                    f'two inputs; AttentionBackbone applies one-input blocks '
                                    f'(use a fusion neck such as AFFFPN for AFF/iAFF)')
                blocks.append(block)
            if blocks:
                self.attentions[str(idx)] = nn.Sequential(*blocks)
        self._register_state_dict_hook(_public_state_dict_hook)

    def _inner_names(self) -> set:
        """Top-level names in the inner backbone's state dict."""
        inner = self.backbone
        return set(inner._modules) | set(inner._parameters) | set(inner._buffers)

    def _outputs(self, x: Tensor) -> List[Tensor]:
        """Run the inner backbone and return its outputs as a list."""
        outs = self.backbone(x)
        if isinstance(outs, Tensor):
            return [outs]
        return list(outs)

    def infer_channels(self, infer_shape: Sequence[int]) -> List[int]:
        """Channels of every output of the inner backbone on a zero input.

        Args:
            infer_shape (Sequence[int]): Shape of the zero input.

        Returns:
            list[int]: ``C`` of each ``(N, C, H, W)`` output (0 for an output
            that is not a 4D tensor).
        """
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            param = next(self.backbone.parameters(), None)
            device = param.device if param is not None else 'cpu'
            with torch.no_grad():
                outs = self._outputs(torch.zeros(tuple(infer_shape), device=device))
        finally:
            self.backbone.train(was_training)
        return [o.shape[1] if isinstance(o, Tensor) and o.dim() == 4 else 0 for o in outs]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the inner backbone and the attention blocks.

        Args:
            x (Tensor): Input images, ``(N, C_in, H, W)``.

        Returns:
            tuple[Tensor]: The outputs of the inner backbone, the chosen ones
            passed through their attention blocks.
        """
        outs = self._outputs(x)
        name = type(self.backbone).__name__
        for idx, channels in zip(self.indices, self.in_channels):
            if idx >= len(outs):
                raise IndexError(f'attention is configured for output {idx}, but {name} '
                                 f'returned only {len(outs)} outputs')
            feat = outs[idx]
            if not isinstance(feat, Tensor) or feat.dim() != 4:
                raise TypeError(f'output {idx} of {name} must be an (N, C, H, W) tensor for '
                                f'attention, got {type(feat).__name__}')
            if feat.shape[1] != channels:
                raise ValueError(f'output {idx} of {name}: expected {channels} channels '
                                 f'(in_channels), found {feat.shape[1]}')
            if str(idx) in self.attentions:
                outs[idx] = self.attentions[str(idx)](feat)
        return tuple(outs)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Accept the inner backbone's own keys (see the class docstring)."""
        inner_names = self._inner_names()
        for key in [k for k in state_dict if k.startswith(prefix)]:
            first = key[len(prefix):].split('.', 1)[0]
            if first in inner_names:
                state_dict[prefix + INNER + '.' + key[len(prefix):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
