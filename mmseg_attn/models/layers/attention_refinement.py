# Copyright (c) mmseg_attn contributors. All rights reserved.
"""BiSeNet's Attention Refinement Module (Yu et al., ECCV 2018, arXiv
1808.00897) and two variants of it: pixel attention ("Attentionout") and
spatial attention refinement (SAR)."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .base import GatedAttention
from .cbam import SpatialAttention
from .utils import build_gate, check_channels, check_input, check_pooled_batch, reduced_channels


@MODELS.register_module()
class AttentionRefinementModule(BaseModule):
    """Attention Refinement Module (ARM) of BiSeNet.

    This block is an implementation of the ARM of `BiSeNet: Bilateral
    Segmentation Network for Real-time Semantic Segmentation
    <https://arxiv.org/abs/1808.00897>`_.

    .. math::

        f = \\mathrm{ConvNormAct}_{3 \\times 3}(x), \\qquad
        a = \\mathrm{gate}(\\mathrm{BN}(W\\,\\mathrm{avg}(f))), \\qquad
        y = f \\odot a

    Shapes: ``x`` is ``(N, C_in, H, W)``, ``f`` and ``y`` are
    ``(N, C_out, H, W)``, ``a`` is ``(N, C_out, 1, 1)``.

    Settings that reproduce the known implementations exactly:

    - BiSeNet reference code (CoinCheung's ``AttentionRefinementModule``,
      the ARM of the seed article): ``with_conv=True, attn_norm=True``
      (3x3 conv-BN-ReLU, pooled 1x1 conv without bias, BN, sigmoid); these
      are the defaults.
    - mmseg's ``AttentionRefinementModule`` in ``bisenetv1.py``: the same
      defaults. Submodule names follow mmseg's (``conv_layer``,
      ``atten_conv_layer``), so its state dicts load unchanged.
    - The simplified ARM of the ooooverflow BiSeNet code:
      ``with_conv=False, attn_norm=False`` (pooled 1x1 conv with bias, no
      norm, sigmoid, applied to the input; ``out_channels`` must then equal
      ``in_channels``).

    Deliberate departures: none beyond the configurable gate; note that a
    norm on the pooled ``(N, C, 1, 1)`` map needs ``N > 1`` in training
    (as in every reference; the block says so instead of torch's bare
    error).

    Probe point: ``gate`` (the last layer of ``atten_conv_layer``), whose
    output is ``a`` (``attention_kind = 'channel'``).

    Args:
        in_channels (int): Channels of the input.
        out_channels (int, optional): Channels of the output. Defaults to
            None, meaning ``in_channels``.
        with_conv (bool): Whether a 3x3 conv-norm-act maps the input to
            ``out_channels`` first. Defaults to True.
        attn_norm (bool): Whether a norm follows the pooled 1x1 conv (the
            conv has a bias exactly when it has no norm). Defaults to True.
        conv_cfg (dict, optional): Config of the convs. Defaults to None.
        norm_cfg (dict): Norm config. Defaults to dict(type='BN').
        act_cfg (dict): Activation of the 3x3 conv.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'arm'
    attention_kind = 'channel'

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 with_conv: bool = True,
                 attn_norm: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_channels(in_channels)
        if out_channels is None:
            out_channels = in_channels
        self.out_channels = check_channels(out_channels, 'out_channels')
        self.with_conv = with_conv
        if with_conv:
            self.conv_layer = ConvModule(
                in_channels,
                out_channels,
                3,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
        elif out_channels != in_channels:
            raise ValueError('out_channels must equal in_channels when with_conv=False, '
                             f'got in_channels={in_channels}, out_channels={out_channels}')
        if attn_norm and norm_cfg is None:
            raise ValueError('attn_norm=True needs a norm_cfg, got norm_cfg=None')
        self.atten_conv_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            ConvModule(
                out_channels,
                out_channels,
                1,
                bias=not attn_norm,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg if attn_norm else None,
                act_cfg=None),
            build_gate(gate_cfg))

    @property
    def gate(self) -> nn.Module:
        """The gate, whose output is the channel weights ``a``."""
        return self.atten_conv_layer[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Forward function: ``(N, C_in, H, W) -> (N, C_out, H, W)``."""
        check_input(self, x)
        check_pooled_batch(self, x, self.atten_conv_layer)
        if self.with_conv:
            x = self.conv_layer(x)
        return x * self.atten_conv_layer(x)


@MODELS.register_module()
class PixelAttention(GatedAttention):
    """Pixel-wise attention ("Attentionout"), an ARM without pooling.

    A variant of the ARM of `BiSeNet <https://arxiv.org/abs/1808.00897>`_
    that gates every position and channel of the full map.

    .. math::

        a = \\mathrm{gate}(\\mathrm{BN}(W x)), \\qquad
        y = x \\odot a \\quad (\\text{or } y = x + x \\odot a
        \\text{ with residual=True})

    with ``W`` a 1x1 conv ``C -> C``. Shapes: ``x``, ``a`` and ``y`` are
    ``(N, C, H, W)``.

    Deliberate departures: the reference computes ``x + out`` and then
    returns ``out``, dropping the residual it announces; here
    ``residual=True`` returns ``x + x * a`` and ``residual=False`` (the
    default) returns what the reference actually returns, ``x * a``.

    Probe point: ``gate``, whose output is ``a`` (``attention_kind =
    'pixel'``).

    Args:
        in_channels (int): Channels of the input (and output).
        residual (bool): Whether to add the input back. Defaults to False.
        conv_cfg (dict, optional): Config of the conv. Defaults to None.
        norm_cfg (dict, optional): Norm after the conv (the conv has a bias
            only without one). Defaults to dict(type='BN').
        act_cfg (dict, optional): Activation between the norm and the gate;
            none in the reference. Defaults to None.
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'pixel_attn'
    attention_kind = 'pixel'

    def __init__(self,
                 in_channels: int,
                 residual: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = None,
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, gate_cfg, init_cfg)
        self.residual = residual
        self.conv = ConvModule(
            in_channels,
            in_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def attention_map(self, x: Tensor) -> Tensor:
        """Weights ``a`` of shape ``(N, C, H, W)``."""
        return self.gate(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        """Forward function: ``(N, C, H, W) -> (N, C, H, W)``."""
        out = super().forward(x)
        return x + out if self.residual else out


@MODELS.register_module()
class SpatialAttentionRefinement(GatedAttention):
    """Spatial Attention Refinement (SAR), a spatial variant of the ARM.

    A variant of the ARM of `BiSeNet <https://arxiv.org/abs/1808.00897>`_:
    the input is reduced by a 1x1 conv-norm-act, its channel mean and max
    go through a 3x3 conv and a norm, and the gated map weighs the input.

    .. math::

        r = \\mathrm{ConvNormAct}_{1 \\times 1}(x), \\qquad
        a = \\mathrm{gate}(\\mathrm{BN}(f^{3 \\times 3}([\\mathrm{mean}_c(r);
        \\mathrm{max}_c(r)]))), \\qquad y = x \\odot a

    Shapes: ``x`` and ``y`` are ``(N, C, H, W)``, ``r`` is
    ``(N, C_mid, H, W)``, ``a`` is ``(N, 1, H, W)``. The attention part is
    a :class:`SpatialAttention` (kernel 3, with a norm) on ``r``.

    Deliberate departures: the reference takes an ``out_chan`` argument it
    never uses (the output has the input's channels); it is dropped here.
    The reference's ``bn_atten`` / ``sigmoid_atten`` are not defined in the
    snippet; they are read as ``BatchNorm2d(1)`` and a sigmoid.

    Probe point: ``gate`` (that of its ``spatial_attention``), whose output
    is ``a`` (``attention_kind = 'spatial'``).

    Args:
        in_channels (int): Channels of the input (and output).
        mid_channels (int, optional): Width of the reduction. Defaults to
            None, meaning ``make_divisible(in_channels / ratio, divisor)``.
        ratio (float): Reduction ratio used when ``mid_channels`` is None.
            Defaults to 4.
        divisor (int): The reduced width is a multiple of it. Defaults to 1.
        kernel_size (int): Odd size of the attention conv. Defaults to 3.
        conv_cfg (dict, optional): Config of the convs. Defaults to None.
        norm_cfg (dict): Norm after the reduction and the attention conv.
            Defaults to dict(type='BN').
        act_cfg (dict): Activation of the reduction.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'sar'
    attention_kind = 'spatial'

    def __init__(self,
                 in_channels: int,
                 mid_channels: Optional[int] = None,
                 ratio: float = 4,
                 divisor: int = 1,
                 kernel_size: int = 3,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, None, init_cfg)  # the gate is the spatial attention's
        self.mid_channels = reduced_channels(in_channels, ratio, divisor, mid_channels)
        self.conv_reduce = ConvModule(
            in_channels,
            self.mid_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.spatial_attention = SpatialAttention(
            self.mid_channels,
            kernel_size=kernel_size,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            gate_cfg=gate_cfg)

    @property
    def gate(self) -> nn.Module:
        """The gate, whose output is the spatial weights ``a``."""
        return self.spatial_attention.gate

    def attention_map(self, x: Tensor) -> Tensor:
        """Spatial weights ``a`` of shape ``(N, 1, H, W)``."""
        return self.spatial_attention.attention_map(self.conv_reduce(x))
