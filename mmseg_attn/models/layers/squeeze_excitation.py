# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Squeeze-and-Excitation (Hu et al., CVPR 2018, arXiv 1709.01507)."""
from typing import Optional, Union

import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .base import GatedAttention
from .utils import (
    check_pooled_batch,
    pointwise_bottleneck,
    reduced_channels,
)


@MODELS.register_module()
class SqueezeExcitation(GatedAttention):
    """Squeeze-and-Excitation block.

    This block is an implementation of `Squeeze-and-Excitation Networks
    <https://arxiv.org/abs/1709.01507>`_.

    .. math::

        s = \\mathrm{gate}(W_2\\,\\delta(W_1\\,\\mathrm{avg}(x))), \\qquad
        y = x \\odot s

    ``avg`` is the global average pool, ``W_1`` a 1x1 conv ``C -> C_r``,
    ``delta`` the activation, ``W_2`` a 1x1 conv ``C_r -> C`` and ``gate``
    the sigmoid. Shapes: ``x`` and ``y`` are ``(N, C, H, W)``, ``s`` is
    ``(N, C, 1, 1)``.

    Deliberate departures from the paper and its reference code:

    - The fully connected layers are 1x1 convs (same weights, reshaped).
    - The reduced width is ``make_divisible(C / ratio, divisor)``, never
      zero, instead of ``C // ratio``; both agree when ``ratio`` divides
      ``C`` and ``divisor=1``. ``divisor=8`` gives the rounding of mmpretrain's
      ``SELayer`` (which rounds ``C // ratio`` to a multiple of 8).
    - The convs carry a bias unless a norm follows (``bias='auto'``); the
      blog reference uses ``nn.Linear(..., bias=False)``: pass
      ``bias=False`` to reproduce it.

    Probe point: ``gate``, whose output is ``s`` (``attention_kind =
    'channel'``).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio ``r``. Defaults to 16.
        divisor (int): The reduced width is a multiple of it. Defaults to 1.
        mid_channels (int, optional): Explicit reduced width; overrides
            ``ratio``. Defaults to None.
        bias (bool | str): Bias of the two convs; ``'auto'`` keeps it
            unless a norm follows. Defaults to 'auto'.
        conv_cfg (dict, optional): Config of the convs. Defaults to None.
        norm_cfg (dict, optional): Norm after each conv; the paper has
            none. Defaults to None.
        act_cfg (dict): Activation between the convs.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'se'
    attention_kind = 'channel'

    def __init__(self,
                 in_channels: int,
                 ratio: float = 16,
                 divisor: int = 1,
                 mid_channels: Optional[int] = None,
                 bias: Union[bool, str] = 'auto',
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, gate_cfg, init_cfg)
        self.mid_channels = reduced_channels(in_channels, ratio, divisor, mid_channels)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.reduce, self.expand = pointwise_bottleneck(in_channels, self.mid_channels, bias,
                                                        conv_cfg, norm_cfg, act_cfg)

    def attention_map(self, x: Tensor) -> Tensor:
        """Channel weights ``s`` of shape ``(N, C, 1, 1)``."""
        check_pooled_batch(self, x, self)
        return self.gate(self.expand(self.reduce(self.squeeze(x))))
