"""Backbone of BiSeNet: spatial path plus any context backbone.

`BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation
<https://arxiv.org/abs/1808.00897>`_ (Yu et al., ECCV 2018).
"""
import copy
from collections import OrderedDict
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from ..layers.utils import check_channels, check_int_sequence, check_kernel_size


@MODELS.register_module()
class BiSeNetBackbone(BaseModule):
    """Spatial path and context backbone of `BiSeNet
    <https://arxiv.org/abs/1808.00897>`_.

    The spatial path keeps a high resolution: three stride-2 conv-norm-act
    blocks bring the input to 1/8 of its size, optionally followed by a 1x1
    conv-norm-act block (mmseg's ``BiSeNetV1`` has one; the paper does not).
    The context path is any registered backbone that returns a tuple of
    multi-scale features (``ResNetV1c``, ``mmpretrain.ResNet``, ...); the
    stages picked by ``context_out_indices`` (normally the 1/16 and 1/32
    ones) are returned next to the spatial features. The attention
    refinement, the global-context tail and the feature fusion live in
    :class:`~mmseg_attn.models.necks.FFMNeck`.

    With ``spatial_channels=(64, 64, 64, 128)`` and
    ``spatial_kernel_sizes=(7, 3, 3)`` (the defaults) the spatial path is
    exactly the ``SpatialPath`` of mmseg's ``BiSeNetV1``; the paper's
    reference code uses ``spatial_channels=(64, 128, 256)`` and
    ``spatial_kernel_sizes=(3, 3, 3)``.

    Args:
        context_backbone (dict): Config of the context-path backbone. When it
            sets no ``norm_cfg`` of its own, ``norm_cfg`` below is given to it.
        in_channels (int): Channels of the input image. Defaults to 3.
        spatial_channels (Sequence[int]): Output channels of the spatial
            path's blocks: three for the stride-2 blocks, plus an optional
            fourth for the final 1x1 block. Defaults to (64, 64, 64, 128).
        spatial_kernel_sizes (Sequence[int]): Kernel sizes (odd) of the three
            stride-2 blocks. Defaults to (7, 3, 3).
        context_out_indices (Sequence[int]): Indices into the context
            backbone's outputs of the stages to return (1/16 and 1/32).
            Defaults to (2, 3).
        conv_cfg (dict, optional): Config of the spatial path's convs (the
            context backbone keeps its own). Defaults to None.
        norm_cfg (dict): Config of the spatial path's norm layers, also given
            to the context backbone when it sets none. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Config of the spatial path's activations (the context
            backbone keeps its own). Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Returns:
        tuple[Tensor]: The spatial-path features (1/8) followed by the chosen
        context-backbone features.
    """

    def __init__(self,
                 context_backbone: ConfigType,
                 in_channels: int = 3,
                 spatial_channels: Sequence[int] = (64, 64, 64, 128),
                 spatial_kernel_sizes: Sequence[int] = (7, 3, 3),
                 context_out_indices: Sequence[int] = (2, 3),
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN', requires_grad=True),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(context_backbone, dict) or 'type' not in context_backbone:
            raise TypeError('context_backbone must be a config dict with a "type" key, '
                            f'got {context_backbone!r}')
        check_channels(in_channels)
        spatial_channels = check_int_sequence(spatial_channels, 'spatial_channels', (3, 4))
        spatial_kernel_sizes = tuple(
            check_kernel_size(k, f'spatial_kernel_sizes[{i}]') for i, k in enumerate(
                check_int_sequence(spatial_kernel_sizes, 'spatial_kernel_sizes', (3, ))))
        if not context_out_indices:
            raise ValueError('context_out_indices must be a non-empty list or tuple of ints, '
                             f'got {context_out_indices!r}')
        context_out_indices = check_int_sequence(context_out_indices, 'context_out_indices',
                                                 minimum=None)

        self.in_channels = in_channels
        self.spatial_channels = spatial_channels
        self.context_out_indices = tuple(context_out_indices)

        layers = OrderedDict()
        channels = in_channels
        for i, out in enumerate(spatial_channels):
            kernel = spatial_kernel_sizes[i] if i < 3 else 1
            layers[f'layer{i + 1}'] = ConvModule(
                channels,
                out,
                kernel,
                stride=2 if i < 3 else 1,
                padding=kernel // 2,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
            channels = out
        self.spatial_path = nn.Sequential(layers)

        context_backbone = copy.deepcopy(context_backbone)
        if norm_cfg is not None:
            context_backbone.setdefault('norm_cfg', copy.deepcopy(norm_cfg))
        self.context_backbone = MODELS.build(context_backbone)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward function.

        Args:
            x (Tensor): Input images of shape (N, C, H, W).

        Returns:
            tuple[Tensor]: ``(spatial, *context)``; the spatial features have
            ``spatial_channels[-1]`` channels at 1/8 of the input size.
        """
        spatial = self.spatial_path(x)
        context = self.context_backbone(x)
        if not isinstance(context, (list, tuple)):
            context = [context]
        outs: List[Tensor] = [spatial]
        for i in self.context_out_indices:
            if not -len(context) <= i < len(context):
                raise IndexError(f'context_out_indices has {i}, but the context backbone '
                                 f'returned only {len(context)} feature maps')
            outs.append(context[i])
        return tuple(outs)
