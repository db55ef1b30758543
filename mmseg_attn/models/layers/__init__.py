# Copyright (c) mmseg_attn contributors. All rights reserved.
from .attention_refinement import (
                                   AttentionRefinementModule,
                                   PixelAttention,
                                   SpatialAttentionRefinement,
)
from .attentional_fusion import AFF, MSCAM, iAFF
from .builder import build_attention, num_inputs
from .cbam import CBAM, ChannelAttention, SpatialAttention
from .feature_fusion import FeatureFusionModule
from .fully_attentional import FullyAttentionalBlock
from .squeeze_excitation import SqueezeExcitation
from .utils import build_gate, make_divisible

__all__ = [
    'AFF', 'AttentionRefinementModule', 'CBAM', 'ChannelAttention', 'FeatureFusionModule',
    'FullyAttentionalBlock', 'MSCAM', 'PixelAttention', 'SpatialAttention',
    'SpatialAttentionRefinement', 'SqueezeExcitation', 'build_attention', 'build_gate',
    'iAFF', 'make_divisible', 'num_inputs'
]
