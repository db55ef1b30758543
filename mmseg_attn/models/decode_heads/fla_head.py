# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Decode head of FLANet.

`Fully Attentional Network for Semantic Segmentation
<https://arxiv.org/abs/2112.04108>`_ (Song et al., AAAI 2022).
"""
from typing import List

import torch
from mmcv.cnn import ConvModule
from mmengine.model import Sequential
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor

from ..layers import FullyAttentionalBlock
from ..layers.utils import UPSAMPLE_MODES, check_cfg, check_choice, check_int, upsample


@MODELS.register_module()
class FLAHead(BaseDecodeHead):
    """Decode head of `FLANet <https://arxiv.org/abs/2112.04108>`_.

    The head computes what the head of the official FLANet model computes::

        F_in  = conv3x3(conv3x3(x))         # in_channels -> channels -> channels
        F_out = FLA(F_in)                   # FullyAttentionalBlock(channels)
        y     = conv3x3(up(cat([x, F_out]))) # (in_channels + channels) -> channels
        seg   = conv1x1(dropout(y))         # self.cls_seg

    where every ``conv3x3`` is a conv-norm-act :class:`mmcv.cnn.ConvModule`,
    ``x`` is the (transformed) backbone input of the head (the last stage of a
    dilated ResNet, or the concatenated HRNet branches with
    ``input_transform='resize_concat'``) and ``up`` is the x2 upsampling of
    the official output head. The official code uses ``nn.Upsample(scale_factor=2)``,
    i.e. *nearest* interpolation, which is the default here; ``upsample_mode``
    selects another interpolation (bilinear and bicubic follow
    ``align_corners``) and ``upsample_scale=1`` skips it.

    The official auxiliary outputs (on ResNet stage 2 and stage 3) are not
    part of this head; configs express them with mmseg's ``FCNHead``.

    Args:
        upsample_scale (int): Scale factor of the upsampling of the
            concatenated features before the output conv. 1 disables it.
            Defaults to 2 (as in the official model).
        upsample_mode (str): Interpolation mode of that upsampling, one of
            'nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area'.
            Defaults to 'nearest' (as in the official model).
        fla_cfg (dict, optional): Extra keyword arguments of the
            :class:`FullyAttentionalBlock` (``conv_cfg``, ``norm_cfg`` and
            ``act_cfg`` come from the head). Defaults to None.
        **kwargs: Arguments of :class:`BaseDecodeHead` (``in_channels``,
            ``channels``, ``num_classes``, ...).
    """

    def __init__(self,
                 upsample_scale: int = 2,
                 upsample_mode: str = 'nearest',
                 fla_cfg: OptConfigType = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.upsample_scale = check_int(upsample_scale, 'upsample_scale')
        self.upsample_mode = check_choice(upsample_mode, UPSAMPLE_MODES, 'upsample_mode')
        check_cfg(fla_cfg, 'fla_cfg')

        conv_kwargs = dict(
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.reduce = Sequential(
            ConvModule(self.in_channels, self.channels, 3, padding=1, **conv_kwargs),
            ConvModule(self.channels, self.channels, 3, padding=1, **conv_kwargs))
        self.fla = FullyAttentionalBlock(self.channels, **conv_kwargs, **(fla_cfg or {}))
        self.bottleneck = ConvModule(
            self.in_channels + self.channels, self.channels, 3, padding=1, **conv_kwargs)

    def _upsample(self, x: Tensor) -> Tensor:
        """Apply the x``upsample_scale`` interpolation of the output head."""
        if self.upsample_scale == 1:
            return x
        return upsample(x, scale_factor=self.upsample_scale, mode=self.upsample_mode,
                        align_corners=self.align_corners)

    def _forward_feature(self, inputs: List[Tensor]) -> Tensor:
        """Features before the classifier.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.

        Returns:
            Tensor: Shape (N, channels, s * H, s * W) where (H, W) is the size
            of the transformed input and ``s`` is ``upsample_scale``.
        """
        x = self._transform_inputs(inputs)
        fla = self.fla(self.reduce(x))
        return self.bottleneck(self._upsample(torch.cat([x, fla], dim=1)))

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Forward function.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.

        Returns:
            Tensor: Segmentation logits of shape
            (N, num_classes, s * H, s * W).
        """
        return self.cls_seg(self._forward_feature(inputs))

