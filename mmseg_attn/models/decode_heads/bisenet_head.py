"""Decode and auxiliary heads of BiSeNet.

`BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation
<https://arxiv.org/abs/1808.00897>`_ (Yu et al., ECCV 2018).
"""
from typing import List, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from ..layers.utils import check_int, check_kernel_size


@MODELS.register_module()
class BiSeNetHead(BaseDecodeHead):
    """Segmentation head of `BiSeNet <https://arxiv.org/abs/1808.00897>`_.

    ``num_convs`` conv-norm-act blocks, dropout and a 1x1 classifier. It
    serves as the main head on the fused features and as the auxiliary
    supervision heads on the attention-refined context features (pick them
    with ``in_index``). With ``num_convs=0`` it is the bare 1x1 classifier of
    the paper's reference code (``channels`` then defaults to
    ``in_channels``); with ``num_convs=1`` it computes what mmseg's
    ``FCNHead(num_convs=1, concat_input=False)`` computes in ``BiSeNetV1``
    and has the same parameter names.

    Args:
        num_convs (int): Number of conv-norm-act blocks before the classifier.
            Defaults to 1.
        kernel_size (int): Kernel size (odd) of those blocks. Defaults to 3.
        **kwargs: Arguments of
            :class:`~mmseg.models.decode_heads.decode_head.BaseDecodeHead`
            (``in_channels``, ``channels``, ``num_classes``, ``in_index``,
            ``dropout_ratio``, ``norm_cfg``, ...).
    """

    def __init__(self, num_convs: int = 1, kernel_size: int = 3, **kwargs):
        check_int(num_convs, 'num_convs', minimum=0)
        check_kernel_size(kernel_size)
        if num_convs == 0 and 'channels' not in kwargs and 'in_channels' in kwargs:
            kwargs['channels'] = kwargs['in_channels']
        super().__init__(**kwargs)
        if num_convs == 0 and self.channels != self.in_channels:
            raise ValueError('with num_convs=0 the classifier sees the input, so channels '
                             f'must equal in_channels ({self.in_channels}), '
                             f'got {self.channels}')
        self.num_convs = num_convs
        self.kernel_size = kernel_size
        convs = [
            ConvModule(
                self.in_channels if i == 0 else self.channels,
                self.channels,
                kernel_size,
                padding=kernel_size // 2,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for i in range(num_convs)
        ]
        self.convs = nn.Sequential(*convs) if convs else nn.Identity()

    def forward(self, inputs: Union[Tensor, List[Tensor]]) -> Tensor:
        """Forward function.

        Args:
            inputs (list[Tensor]): The neck's outputs; ``in_index`` picks the
                one this head classifies.

        Returns:
            Tensor: Logits of shape (N, num_classes, H, W) at the input's
            resolution.
        """
        x = self._transform_inputs(inputs)
        return self.cls_seg(self.convs(x))
