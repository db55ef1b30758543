"""Context-path head and feature fusion of BiSeNet as a neck.

`BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation
<https://arxiv.org/abs/1808.00897>`_ (Yu et al., ECCV 2018).
"""
import copy
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from ..layers.utils import (
    UPSAMPLE_MODES,
    check_cfg,
    check_channels,
    check_choice,
    check_int_sequence,
    upsample,
)


@MODELS.register_module()
class FFMNeck(BaseModule):
    """Attention refinement, global context and feature fusion of `BiSeNet
    <https://arxiv.org/abs/1808.00897>`_.

    Takes ``(x_spatial, x_16, x_32)``: the spatial-path features (1/8) and
    the 1/16 and 1/32 context-backbone features, as returned by
    :class:`~mmseg_attn.models.backbones.BiSeNetBackbone`. An
    ``AttentionRefinementModule`` (ARM) refines each context stage, the
    globally pooled 1/32 features (the "tail") are added to or multiplied
    with the refined 1/32 features, and a ``FeatureFusionModule`` (FFM)
    fuses the context with the spatial features. Both blocks come from
    :mod:`mmseg_attn.models.layers`.

    Two ways of merging the context stages (``context_fusion``):

    - ``'sum'`` (mmseg's ``BiSeNetV1``): top-down, the refined 1/32 features
      are upsampled to 1/16, go through a 3x3 conv-norm-act (``conv_head32``),
      are added to the refined 1/16 features, upsampled to the spatial size
      and go through another 3x3 conv-norm-act (``conv_head16``); the FFM
      fuses this with the spatial features.
    - ``'concat'`` (the paper's reference code): both refined stages are
      upsampled to the spatial size and concatenated; the FFM fuses the
      concatenation with the spatial features.

    ``norm_cfg``, ``act_cfg`` and ``conv_cfg`` reach every layer, the ARMs and
    the FFM included (``arm_cfg`` / ``ffm_cfg`` may still override them).

    Args:
        in_channels (Sequence[int]): Channels of ``(x_spatial, x_16, x_32)``.
        out_channels (int): Channels of the fused output. Defaults to 256.
        context_channels (int, optional): Output channels of both ARMs (and of
            the convs of the ``'sum'`` path). None keeps each stage's width,
            which needs ARMs without their 3x3 conv. Defaults to 128.
        context_fusion (str): ``'sum'`` or ``'concat'``, see above.
            Defaults to ``'sum'``.
        global_context (str, optional): How the pooled 1/32 features join the
            refined 1/32 features: ``'add'``, ``'mul'`` or None (no tail).
            Defaults to ``'add'``.
        global_conv (bool): Whether a 1x1 conv-norm-act maps the pooled 1/32
            features to the ARM width (mmseg); without it the raw means are
            used (paper code), so the 1/32 ARM must keep its width.
            Defaults to True.
        upsample_mode (str): Interpolation mode of the upsampling:
            ``'nearest'`` (mmseg), ``'bilinear'`` (paper code), or another of
            ``'nearest-exact'``, ``'bicubic'``, ``'area'``.
            Defaults to ``'nearest'``.
        align_corners (bool): ``align_corners`` of a non-nearest upsampling.
            Defaults to False.
        arm_cfg (dict, optional): Extra arguments of the ARMs, e.g.
            ``dict(with_conv=False, attn_norm=False)``; ``type`` may name
            another registered block taking ``in_channels`` and
            ``out_channels``. Defaults to None, meaning
            ``dict(type='AttentionRefinementModule')``.
        ffm_cfg (dict, optional): Extra arguments of the FFM, e.g.
            ``dict(attn_convs=1, attn_norm=True)`` for mmseg's FFM.
            Defaults to None, meaning ``dict(type='FeatureFusionModule')``.
        conv_cfg (dict, optional): Config of every conv, the ARMs' and the
            FFM's included. Defaults to None.
        norm_cfg (dict): Config of every norm layer, the ARMs' and the FFM's
            included. Defaults to ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Config of every conv-norm-act activation, the ARMs'
            and the FFM's included (their gates take ``gate_cfg`` in
            ``arm_cfg`` / ``ffm_cfg``). Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Returns:
        tuple[Tensor]: ``(fused, context_8, context_16)``: the FFM output at
        the spatial size, and the two context-path outputs for auxiliary
        heads. With ``'sum'`` these are the outputs of ``conv_head16`` (at
        the spatial size) and ``conv_head32`` (at 1/16), exactly as mmseg's
        ``BiSeNetV1`` returns them; with ``'concat'`` they are the refined
        1/16 and 1/32 features upsampled to the spatial size, as the paper
        code supervises them.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 256,
                 context_channels: Optional[int] = 128,
                 context_fusion: str = 'sum',
                 global_context: Optional[str] = 'add',
                 global_conv: bool = True,
                 upsample_mode: str = 'nearest',
                 align_corners: bool = False,
                 arm_cfg: OptConfigType = None,
                 ffm_cfg: OptConfigType = None,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN', requires_grad=True),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        # (spatial, 1/16, 1/32) channels
        check_int_sequence(in_channels, 'in_channels', lengths=(3, ))
        check_channels(out_channels, 'out_channels')
        if context_channels is not None:
            check_channels(context_channels, 'context_channels')
        check_choice(context_fusion, ('sum', 'concat'), 'context_fusion')
        check_choice(global_context, ('add', 'mul', None), 'global_context')
        check_choice(upsample_mode, UPSAMPLE_MODES, 'upsample_mode')
        check_cfg(arm_cfg, 'arm_cfg')
        check_cfg(ffm_cfg, 'ffm_cfg')

        spatial_channels, channels_16, channels_32 = in_channels
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        self.context_fusion = context_fusion
        self.global_context = global_context
        self.upsample_mode = upsample_mode
        self.align_corners = align_corners
        block_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        arm16_channels = context_channels or channels_16
        arm32_channels = context_channels or channels_32
        if context_fusion == 'sum' and arm16_channels != arm32_channels:
            raise ValueError("context_fusion='sum' adds the refined 1/16 and 1/32 features, "
                             'so both ARMs need one width: set context_channels '
                             f'(got None with in_channels {tuple(in_channels)})')
        self.arm16 = self._build_arm(arm_cfg, block_cfg, channels_16, context_channels)
        self.arm32 = self._build_arm(arm_cfg, block_cfg, channels_32, context_channels)

        if global_context is not None and global_conv:
            self.global_conv = ConvModule(channels_32, arm32_channels, 1, **block_cfg)
        else:
            self.global_conv = None
            if global_context is not None and channels_32 != arm32_channels:
                raise ValueError('without global_conv the pooled 1/32 features keep their '
                                 f'{channels_32} channels, but context_channels is '
                                 f'{context_channels}; set global_conv=True or '
                                 'context_channels=None')

        if context_fusion == 'sum':
            self.conv_head32 = ConvModule(
                arm32_channels, arm32_channels, 3, padding=1, **block_cfg)
            self.conv_head16 = ConvModule(
                arm16_channels, arm16_channels, 3, padding=1, **block_cfg)
            ffm_in = spatial_channels + arm16_channels
        else:
            ffm_in = spatial_channels + arm16_channels + arm32_channels
        ffm = dict(type='FeatureFusionModule', **block_cfg)
        ffm.update(copy.deepcopy(ffm_cfg) if ffm_cfg else {})
        ffm.update(in_channels=ffm_in, out_channels=out_channels)
        self.ffm = MODELS.build(ffm)

    @staticmethod
    def _build_arm(arm_cfg: OptConfigType, block_cfg: dict, in_channels: int,
                   out_channels: Optional[int]) -> BaseModule:
        cfg = dict(type='AttentionRefinementModule', **block_cfg)
        cfg.update(copy.deepcopy(arm_cfg) if arm_cfg else {})
        cfg.update(in_channels=in_channels)
        if out_channels is not None:
            cfg.update(out_channels=out_channels)
        return MODELS.build(cfg)

    def _upsample(self, x: Tensor, size: torch.Size) -> Tensor:
        if x.shape[2:] == size:
            return x
        return upsample(x, size=size, mode=self.upsample_mode, align_corners=self.align_corners)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Forward function.

        Args:
            inputs (Sequence[Tensor]): ``(x_spatial, x_16, x_32)``.

        Returns:
            tuple[Tensor]: ``(fused, context_8, context_16)``, see the class
            docstring.
        """
        if len(inputs) != 3:
            raise ValueError('FFMNeck expects 3 inputs (spatial, 1/16 and 1/32 features), '
                             f'got {len(inputs)}')
        x_spatial, x_16, x_32 = inputs
        out_32 = self.arm32(x_32)
        if self.global_context is not None:
            tail = x_32.mean((2, 3), keepdim=True)
            if self.global_conv is not None:
                tail = self.global_conv(tail)
            out_32 = out_32 + tail if self.global_context == 'add' else out_32 * tail

        size = x_spatial.shape[2:]
        if self.context_fusion == 'sum':
            up_32 = self.conv_head32(self._upsample(out_32, x_16.shape[2:]))
            up_16 = self.conv_head16(self._upsample(self.arm16(x_16) + up_32, size))
            fused = self.ffm(x_spatial, up_16)
        else:
            up_16 = self._upsample(self.arm16(x_16), size)
            up_32 = self._upsample(out_32, size)
            fused = self.ffm(x_spatial, torch.cat([up_16, up_32], dim=1))
        return fused, up_16, up_32
