# Copyright (c) mmseg_attn contributors. All rights reserved.
"""CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018,
arXiv 1807.06521): channel attention, spatial attention and their sequence."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .base import GatedAttention
from .utils import (
    check_channels,
    check_choice,
    check_input,
    check_kernel_size,
    check_pooled_batch,
    pointwise_bottleneck,
    reduced_channels,
)


@MODELS.register_module()
class ChannelAttention(GatedAttention):
    """Channel attention of CBAM.

    This block is the channel attention module of `CBAM: Convolutional Block
    Attention Module <https://arxiv.org/abs/1807.06521>`_.

    .. math::

        M_c = \\mathrm{gate}(\\mathrm{MLP}(\\mathrm{avg}(x))
              + \\mathrm{MLP}(\\mathrm{max}(x))), \\qquad y = x \\odot M_c

    with one shared ``MLP = W_1 delta(W_0 .)`` (``C -> C_r -> C``). Shapes:
    ``x`` and ``y`` are ``(N, C, H, W)``, ``M_c`` is ``(N, C, 1, 1)``.

    Deliberate departures: the MLP layers are 1x1 convs (the official
    code's ``nn.Linear`` weights reshaped); the reduced width is
    ``make_divisible(C / ratio, divisor)`` (never zero) instead of
    ``C // ratio``.

    Probe point: ``gate``, whose output is ``M_c`` (``attention_kind =
    'channel'``).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio ``r`` of the MLP. Defaults to 16.
        divisor (int): The reduced width is a multiple of it. Defaults to 1.
        mid_channels (int, optional): Explicit reduced width; overrides
            ``ratio``. Defaults to None.
        pool_types (Sequence[str]): Descriptors fed to the shared MLP, any
            of ``'avg'`` and ``'max'`` (the paper's Table 1 ablation).
            Defaults to ('avg', 'max').
        bias (bool | str): Bias of the MLP convs (the official code has
            one). Defaults to 'auto'.
        conv_cfg (dict, optional): Config of the MLP convs. Defaults to None.
        norm_cfg (dict, optional): Norm after each MLP conv; the paper has
            none. Defaults to None.
        act_cfg (dict): Activation inside the MLP.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'channel_attn'
    attention_kind = 'channel'

    def __init__(self,
                 in_channels: int,
                 ratio: float = 16,
                 divisor: int = 1,
                 mid_channels: Optional[int] = None,
                 pool_types: Sequence[str] = ('avg', 'max'),
                 bias: Union[bool, str] = 'auto',
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, gate_cfg, init_cfg)
        self.mid_channels = reduced_channels(in_channels, ratio, divisor, mid_channels)
        if isinstance(pool_types, str) or len(pool_types) == 0:
            raise ValueError('pool_types must be a non-empty sequence of \'avg\' and/or '
                             f'\'max\', got {pool_types!r}')
        for pool_type in pool_types:
            check_choice(pool_type, ('avg', 'max'), 'pool_types')
        self.pool_types = tuple(pool_types)
        self.mlp = nn.Sequential(*pointwise_bottleneck(in_channels, self.mid_channels, bias,
                                                       conv_cfg, norm_cfg, act_cfg))

    def attention_map(self, x: Tensor) -> Tensor:
        """Channel weights ``M_c`` of shape ``(N, C, 1, 1)``."""
        check_pooled_batch(self, x, self.mlp)
        pooled = []
        for pool_type in self.pool_types:
            if pool_type == 'avg':
                pooled.append(x.mean((2, 3), keepdim=True))
            else:
                pooled.append(x.amax((2, 3), keepdim=True))
        return self.gate(sum(self.mlp(p) for p in pooled))


@MODELS.register_module()
class SpatialAttention(GatedAttention):
    """Spatial attention of CBAM.

    This block is the spatial attention module of `CBAM: Convolutional Block
    Attention Module <https://arxiv.org/abs/1807.06521>`_.

    .. math::

        M_s = \\mathrm{gate}(f^{k \\times k}([\\mathrm{mean}_c(x);
              \\mathrm{max}_c(x)])), \\qquad y = x \\odot M_s

    Shapes: ``x`` and ``y`` are ``(N, C, H, W)``, the pooled pair
    ``(N, 2, H, W)``, ``M_s`` is ``(N, 1, H, W)``.

    Deliberate departures: the official code stacks ``[max; mean]``; this
    block follows the paper's ``[mean; max]`` (swap the two input channels
    of the conv weight when porting official weights). The official code
    puts a ``BatchNorm2d(1, momentum=0.01)`` after a bias-free conv; the
    paper has a plain conv: ``norm_cfg=None`` (default) gives the paper,
    ``norm_cfg=dict(type='BN', momentum=0.01)`` the official code.

    Probe point: ``gate``, whose output is ``M_s`` (``attention_kind =
    'spatial'``).

    Args:
        in_channels (int): Channels of the input (and output); the
            attention itself only sees the 2 pooled maps.
        kernel_size (int): Odd size of the conv. Defaults to 7.
        conv_cfg (dict, optional): Config of the conv. Defaults to None.
        norm_cfg (dict, optional): Norm after the conv. Defaults to None.
        act_cfg (dict, optional): Activation between the norm and the gate;
            none in the paper. Defaults to None.
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'spatial_attn'
    attention_kind = 'spatial'

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 7,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, gate_cfg, init_cfg)
        self.kernel_size = check_kernel_size(kernel_size)
        self.conv = ConvModule(
            2,
            1,
            kernel_size,
            padding=kernel_size // 2,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def attention_map(self, x: Tensor) -> Tensor:
        """Spatial weights ``M_s`` of shape ``(N, 1, H, W)``."""
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return self.gate(self.conv(pooled))


@MODELS.register_module()
class CBAM(BaseModule):
    """Convolutional Block Attention Module.

    This block is an implementation of `CBAM: Convolutional Block Attention
    Module <https://arxiv.org/abs/1807.06521>`_: a :class:`ChannelAttention`
    and a :class:`SpatialAttention`.

    .. math::

        x' = x \\odot M_c(x), \\qquad y = x' \\odot M_s(x')

    Shapes: ``x`` and ``y`` are ``(N, C, H, W)``. ``order`` selects the
    arrangements of the paper's Table 4: ``'channel_first'`` (above, the
    best), ``'spatial_first'`` (``x' = x M_s(x)``, ``y = x' M_c(x')``) or
    ``'parallel'`` (both maps from the input, ``y = x M_c(x) M_s(x)``; the
    paper does not spell out the parallel combination, this block
    multiplies the two maps).

    Probe points: those of its ``channel_attention`` and
    ``spatial_attention`` (``attention_kind = None``: a container).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio of the channel MLP. Defaults to 16.
        divisor (int): The reduced width is a multiple of it. Defaults to 1.
        kernel_size (int): Odd size of the spatial conv. Defaults to 7.
        order (str): ``'channel_first'``, ``'spatial_first'`` or
            ``'parallel'``. Defaults to 'channel_first'.
        conv_cfg (dict, optional): Config of all convs. Defaults to None.
        norm_cfg (dict, optional): Norm after the spatial conv (see
            :class:`SpatialAttention`); the channel MLP has none.
            Defaults to None.
        act_cfg (dict): Activation inside the channel MLP.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate of both attentions.
            Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'cbam'
    attention_kind = None

    def __init__(self,
                 in_channels: int,
                 ratio: float = 16,
                 divisor: int = 1,
                 kernel_size: int = 7,
                 order: str = 'channel_first',
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_channels(in_channels)
        self.order = check_choice(order, ('channel_first', 'spatial_first', 'parallel'),
                                  'order')
        self.channel_attention = ChannelAttention(
            in_channels,
            ratio=ratio,
            divisor=divisor,
            conv_cfg=conv_cfg,
            act_cfg=act_cfg,
            gate_cfg=gate_cfg)
        self.spatial_attention = SpatialAttention(
            in_channels,
            kernel_size=kernel_size,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            gate_cfg=gate_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function: ``(N, C, H, W) -> (N, C, H, W)``."""
        check_input(self, x)
        if self.order == 'channel_first':
            return self.spatial_attention(self.channel_attention(x))
        if self.order == 'spatial_first':
            return self.channel_attention(self.spatial_attention(x))
        return (x * self.channel_attention.attention_map(x) *
                self.spatial_attention.attention_map(x))
