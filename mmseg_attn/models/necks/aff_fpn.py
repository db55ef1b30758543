# Copyright (c) mmseg_attn contributors. All rights reserved.
"""FPN whose top-down merges are attentional feature fusions (AFF/iAFF)."""
from typing import List, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.necks import FPN
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor

from ..layers import build_attention, num_inputs


@MODELS.register_module()
class AFFFPN(FPN):
    """FPN with attentional top-down fusion.

    This neck is the "long skip connection" use of `Attentional Feature
    Fusion <https://arxiv.org/abs/2009.14082>`_ (Dai et al., WACV 2021) in
    a `Feature Pyramid Network <https://arxiv.org/abs/1612.03144>`_: where
    mmseg's :class:`~mmseg.models.necks.FPN` merges a lateral feature and
    the upsampled coarser level by addition,

    .. math::

        P_{i} = L_{i} + \\mathrm{up}(P_{i+1}) \\quad\\longrightarrow\\quad
        P_{i} = \\mathrm{AFF}(L_{i}, \\mathrm{up}(P_{i+1}))

    with ``L_i`` (the lateral 1x1 conv of backbone level ``i``, the
    low-level feature) as the first input ``X`` of the fusion block and the
    upsampled top-down feature (the larger receptive field) as ``Y``. All
    other parts (lateral and output convs, extra levels, arguments) are
    mmseg's FPN, with the same parameter names, so FPN weights load with only
    the ``fusions.*`` keys missing. Each merge has its own fusion block
    (``fusions[i]`` merges level ``i + 1`` into level ``i``); the coarsest
    level has none.

    Args:
        in_channels (list[int]): Channels of each backbone level.
        out_channels (int): Channels of every output (and of the fusions).
        num_outs (int): Number of outputs.
        fusion_cfg (dict, optional): Config of the two-input fusion block,
            built with ``in_channels=out_channels``: ``dict(type='AFF')``,
            ``dict(type='iAFF')`` or any block with ``forward(x, y)``. None
            gives mmseg's additive FPN. Defaults to dict(type='AFF', ratio=4).
        **kwargs: The other arguments of mmseg's ``FPN`` (``start_level``,
            ``end_level``, ``add_extra_convs``, ``norm_cfg``,
            ``upsample_cfg``, ``init_cfg``, ...).
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 fusion_cfg: OptConfigType = dict(type='AFF', ratio=4),
                 **kwargs):
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f'in_channels must be a list of ints, got {in_channels!r}')
        super().__init__(list(in_channels), out_channels, num_outs, **kwargs)
        self.fusion_cfg = fusion_cfg
        self.fusions = nn.ModuleList()
        for _ in range(len(self.lateral_convs) - 1):
            fusion = build_attention(fusion_cfg, out_channels)
            if fusion is None:
                break
            if num_inputs(fusion) != 2:
                raise TypeError(f'fusion_cfg must build a two-input block with forward(x, y) '
                                f'such as AFF or iAFF, got {type(fusion).__name__}')
            self.fusions.append(fusion)

    def merge(self, i: int, lateral: Tensor, top_down: Tensor) -> Tensor:
        """Merge the upsampled coarser level into lateral ``i``."""
        if len(self.fusions) == 0:
            return lateral + top_down
        return self.fusions[i](lateral, top_down)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Forward function.

        Args:
            inputs (Sequence[Tensor]): Backbone levels, finest first, level
                ``i`` of shape ``(N, in_channels[i], H_i, W_i)``.

        Returns:
            tuple[Tensor]: ``num_outs`` maps of ``out_channels`` channels.
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects {len(self.in_channels)} inputs '
                             f'(one per in_channels), got {len(inputs)}')
        laterals = [
            lateral_conv(inputs[i + self.start_level])
            for i, lateral_conv in enumerate(self.lateral_convs)
        ]
        used_backbone_levels = len(laterals)
        for i in range(used_backbone_levels - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                top_down = resize(laterals[i], **self.upsample_cfg)
            else:
                top_down = resize(
                    laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
            laterals[i - 1] = self.merge(i - 1, laterals[i - 1], top_down)

        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
        # extra levels, exactly as mmseg's FPN
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used_backbone_levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == 'on_input':
                    extra_source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == 'on_lateral':
                    extra_source = laterals[-1]
                else:  # 'on_output'
                    extra_source = outs[-1]
                outs.append(self.fpn_convs[used_backbone_levels](extra_source))
                for i in range(used_backbone_levels + 1, self.num_outs):
                    if self.relu_before_extra_convs:
                        outs.append(self.fpn_convs[i](F.relu(outs[-1])))
                    else:
                        outs.append(self.fpn_convs[i](outs[-1]))
        return tuple(outs)
