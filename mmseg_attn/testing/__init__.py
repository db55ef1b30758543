# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Reference code and helpers shared by the tests and the benchmarks.

Each reference implementation that a block is compared against is
transcribed once, here, from the published / official code, with its known
defects documented and fixable by a flag (the literal code by default):

- :mod:`.se_cbam`: SE layer, official CBAM (``flip_mean_max`` maps its
  ``[max; mean]`` to the block's ``[mean; max]``);
- :mod:`.bisenet`: ARM, simplified ARM, "Attentionout"
  (``fix_residual``), SAR, FFM (paper and ooooverflow versions);
- :mod:`.aff`: MS-CAM, AFF, iAFF (``fix_global_att2``);
- :mod:`.fla`: the FLA block (``fix_batch``) and the FLANet head.

Helpers: :func:`copy_weights` (reference -> block), :func:`features` (tiny,
well-conditioned inputs), :func:`assert_same` (1e-6 in float32, 1e-10 in
float64), :func:`run_both` (block and reference in one mode), :mod:`.pairs`
(every block next to its reference, as the benchmarks build them) and
:mod:`.counts` (FLOPs counted by hand). Like ``mmdet.testing`` this is test
support: ``import mmseg_attn`` does not import it.
"""
from .aff import RefAFF, RefIAFF, RefMSCAM
from .bisenet import (
    RefARM,
    RefAttentionout,
    RefConvBNReLU,
    RefFFM,
    RefOverflowFFM,
    RefSAR,
    RefSimpleARM,
)
from .counts import conv_flops, fla_matmul_flops
from .fla import FLAHeadReference, FLAReference
from .inputs import assert_same, features, run_both
from .pairs import (
    BLOCK_PAIRS,
    BlockPair,
    block_accepts,
    make_inputs,
    make_pair,
    make_step,
    pair_step,
)
from .se_cbam import (
    RefBasicConv,
    RefCBAM,
    RefChannelGate,
    RefChannelPool,
    RefSELayer,
    RefSpatialGate,
    flip_mean_max,
)
from .weights import copy_weights, randomize_norms

__all__ = [
    'BLOCK_PAIRS', 'BlockPair', 'FLAHeadReference', 'FLAReference', 'RefAFF', 'RefARM',
    'RefAttentionout', 'RefBasicConv', 'RefCBAM', 'RefChannelGate', 'RefChannelPool',
    'RefConvBNReLU', 'RefFFM', 'RefIAFF', 'RefMSCAM', 'RefOverflowFFM', 'RefSAR', 'RefSELayer',
    'RefSimpleARM', 'RefSpatialGate', 'assert_same', 'block_accepts', 'conv_flops',
    'copy_weights', 'features', 'fla_matmul_flops', 'flip_mean_max', 'make_inputs', 'make_pair',
    'make_step', 'pair_step', 'randomize_norms', 'run_both'
]
