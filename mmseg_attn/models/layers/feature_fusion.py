# Copyright (c) mmseg_attn contributors. All rights reserved.
"""BiSeNet's Feature Fusion Module (Yu et al., ECCV 2018, arXiv 1808.00897)."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .utils import (
    build_gate,
    check_channels,
    check_choice,
    check_kernel_size,
    check_pooled_batch,
    pointwise_bottleneck,
    reduced_channels,
)


@MODELS.register_module()
class FeatureFusionModule(BaseModule):
    """Feature Fusion Module (FFM) of BiSeNet.

    This block is an implementation of the FFM of `BiSeNet: Bilateral
    Segmentation Network for Real-time Semantic Segmentation
    <https://arxiv.org/abs/1808.00897>`_. It fuses the low-level, high
    resolution features of the spatial path (first input) with the
    high-level features of the context path (second input), both at the
    same resolution.

    .. math::

        f = \\mathrm{ConvNormAct}([x_s; x_c]), \\qquad
        a = \\mathrm{gate}(W_2\\,\\delta(W_1\\,\\mathrm{avg}(f))), \\qquad
        y = f \\odot a + f

    Shapes: ``x_s`` is ``(N, C_s, H, W)``, ``x_c`` is ``(N, C_c, H, W)``
    with ``C_s + C_c = in_channels``; ``f`` and ``y`` are
    ``(N, C_out, H, W)``, ``a`` is ``(N, C_out, 1, 1)``.

    The attention branch is one or two pooled 1x1 convs. The first is always
    followed by the activation (after its norm when ``attn_norm``); the
    second, when ``attn_convs=2``, maps ``C_mid -> C_out`` and feeds the gate
    directly (after its norm when ``attn_norm``). Presets that reproduce
    known implementations exactly:

    - Paper and BiSeNet reference code (CoinCheung's
      ``FeatureFusionModule``): ``kernel_size=1, attn_convs=2, ratio=4,
      attn_bias=False, attn_norm=False``; these are the defaults.
    - mmseg's ``FeatureFusionModule`` in ``bisenetv1.py``:
      ``kernel_size=1, attn_convs=1, attn_bias=False, attn_norm=True``
      (one pooled 1x1 conv-BN-ReLU before the sigmoid). Submodule names
      follow mmseg's (``conv1``, ``gap``, ``conv_atten``), so its state
      dicts load unchanged.
    - The ooooverflow BiSeNet code (seed article on BiSeNet):
      ``kernel_size=3, attn_convs=2, ratio=1, attn_bias=True,
      attn_norm=False`` (3x3 conv-BN-ReLU, then 1x1 convs with bias).

    Deliberate departures: none beyond the configurable gate; a norm on the
    pooled map needs ``N > 1`` in training (the block says so).

    Probe point: ``gate`` (the last layer of ``conv_atten``), whose output
    is ``a`` (``attention_kind = 'channel'``); ``num_inputs = 2``.

    Args:
        in_channels (int): Channels of the concatenation ``C_s + C_c``
            (as in mmseg).
        out_channels (int, optional): Channels of the output. Defaults to
            None, meaning ``in_channels``.
        kernel_size (int): Odd kernel of the fusion conv. Defaults to 1.
        attn_convs (int): Number of pooled 1x1 convs, 1 or 2. Defaults to 2.
        ratio (float): Reduction ratio of the first of two attention convs
            (``C_mid = make_divisible(C_out / ratio, divisor)``); unused
            with ``attn_convs=1``. Defaults to 4.
        divisor (int): ``C_mid`` is a multiple of it. Defaults to 1.
        attn_bias (bool): Whether the attention convs have a bias.
            Defaults to False.
        attn_norm (bool): Whether a norm follows each attention conv.
            Defaults to False.
        conv_cfg (dict, optional): Config of the convs. Defaults to None.
        norm_cfg (dict): Norm config. Defaults to dict(type='BN').
        act_cfg (dict): Activation config. Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'ffm'
    attention_kind = 'channel'
    num_inputs = 2

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 kernel_size: int = 1,
                 attn_convs: int = 2,
                 ratio: float = 4,
                 divisor: int = 1,
                 attn_bias: bool = False,
                 attn_norm: bool = False,
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
        check_kernel_size(kernel_size)
        self.attn_convs = check_choice(attn_convs, (1, 2), 'attn_convs')
        if attn_norm and norm_cfg is None:
            raise ValueError('attn_norm=True needs a norm_cfg, got norm_cfg=None')
        attn_norm_cfg = norm_cfg if attn_norm else None
        self.conv1 = ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        if attn_convs == 1:
            self.mid_channels = out_channels
            attn_layers = [
                ConvModule(
                    out_channels,
                    out_channels,
                    1,
                    bias=attn_bias,
                    conv_cfg=conv_cfg,
                    norm_cfg=attn_norm_cfg,
                    act_cfg=act_cfg)
            ]
        else:
            self.mid_channels = reduced_channels(out_channels, ratio, divisor)
            attn_layers = pointwise_bottleneck(out_channels, self.mid_channels, attn_bias,
                                               conv_cfg, attn_norm_cfg, act_cfg)
        self.conv_atten = nn.Sequential(*attn_layers, build_gate(gate_cfg))

    @property
    def gate(self) -> nn.Module:
        """The gate, whose output is the channel weights ``a``."""
        return self.conv_atten[-1]

    def forward(self, x_spatial: Tensor, x_context: Tensor) -> Tensor:
        """Fuse the spatial-path and context-path features.

        Args:
            x_spatial (Tensor): Low-level, high-resolution features
                ``(N, C_s, H, W)``.
            x_context (Tensor): High-level features ``(N, C_c, H, W)``.

        Returns:
            Tensor: Fused features ``(N, C_out, H, W)``.
        """
        if (x_spatial.dim() != 4 or x_context.dim() != 4
                or x_spatial.shape[0] != x_context.shape[0]
                or x_spatial.shape[2:] != x_context.shape[2:]
                or x_spatial.shape[1] + x_context.shape[1] != self.in_channels):
            raise ValueError(
                f'{type(self).__name__} expects (N, C_s, H, W) and (N, C_c, H, W) inputs '
                f'with the same N, H, W and C_s + C_c = in_channels = {self.in_channels}, '
                f'got {tuple(x_spatial.shape)} and {tuple(x_context.shape)}')
        check_pooled_batch(self, x_spatial, self.conv_atten)
        fused = self.conv1(torch.cat([x_spatial, x_context], dim=1))
        return fused * self.conv_atten(self.gap(fused)) + fused
