# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones.bisenetv1 import AttentionRefinementModule as MMSegARM

from mmseg_attn.models.layers import (
    AttentionRefinementModule,
    PixelAttention,
    SpatialAttentionRefinement,
)
from mmseg_attn.testing import RefARM, RefAttentionout, RefSAR, RefSimpleARM, run_both


@pytest.mark.parametrize('ref_cls, hw', [(RefARM, (7, 5)), (MMSegARM, (6, 9))],
                         ids=['reference', 'mmseg'])
def test_arm_matches(ref_cls, hw, dtype, training, copy_weights, assert_same, features):
    torch.manual_seed(0)
    ref = ref_cls(16, 24).to(dtype)
    block = AttentionRefinementModule(16, 24).to(dtype)
    copy_weights(ref, block)
    x = features(4, 16, *hw, dtype)
    assert_same(*run_both(ref, block, (x, ), training))
    if ref_cls is MMSegARM:
        # submodule names follow mmseg's: its state dict loads unchanged
        fresh = AttentionRefinementModule(16, 24).to(dtype)
        fresh.load_state_dict(ref.state_dict(), strict=True)
        assert_same(*run_both(ref, fresh, (x, ), training))


def test_arm_simplified_matches_reference(dtype, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefSimpleARM(16, 16).to(dtype)
    block = AttentionRefinementModule(16, with_conv=False, attn_norm=False).to(dtype)
    assert block.atten_conv_layer[1].conv.bias is not None
    assert not hasattr(block, 'conv_layer')
    # the unused BN of the reference has no counterpart
    ref_used = nn.Sequential(ref.conv)
    copy_weights(ref_used, block)
    x = torch.randn(2, 16, 5, 5, dtype=dtype)
    assert_same(block(x), ref(x))


@pytest.mark.parametrize('residual', [False, True])
def test_pixel_attention_matches_reference(residual, dtype, training, copy_weights,
                                           assert_same):
    torch.manual_seed(0)
    ref = RefAttentionout(12, fix_residual=residual).to(dtype)
    block = PixelAttention(12, residual=residual).to(dtype)
    copy_weights(ref, block)
    x = torch.randn(2, 12, 5, 3, dtype=dtype)
    assert_same(*run_both(ref, block, (x, ), training))


def test_pixel_attention_residual_is_kept():
    torch.manual_seed(0)
    block = PixelAttention(4, residual=True).eval()
    plain = PixelAttention(4, residual=False).eval()
    plain.load_state_dict(block.state_dict())
    x = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(block(x), x + plain(x))


@pytest.mark.parametrize('mid', [4, 16])
def test_sar_matches_reference(mid, dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefSAR(16, mid).to(dtype)
    block = SpatialAttentionRefinement(16, mid_channels=mid).to(dtype)
    copy_weights(ref, block)
    x = torch.randn(2, 16, 7, 6, dtype=dtype)
    assert_same(*run_both(ref, block, (x, ), training))
    assert block.attention_map(x).shape == (2, 1, 7, 6)


def test_sar_default_width():
    assert SpatialAttentionRefinement(64).mid_channels == 16
    assert SpatialAttentionRefinement(64, ratio=8).mid_channels == 8
    assert SpatialAttentionRefinement(2).mid_channels == 1


@pytest.mark.parametrize('cls, kwargs, error, match', [
    (AttentionRefinementModule, dict(in_channels=0), ValueError, 'in_channels'),
    (AttentionRefinementModule, dict(in_channels=8, out_channels=-1), ValueError,
     'out_channels'),
    (AttentionRefinementModule, dict(in_channels=8, out_channels=4, with_conv=False),
     ValueError, 'out_channels'),
    (AttentionRefinementModule, dict(in_channels=8, norm_cfg=None), ValueError, 'attn_norm'),
    (PixelAttention, dict(in_channels='8'), TypeError, 'in_channels'),
    (SpatialAttentionRefinement, dict(in_channels=8, mid_channels=0), ValueError,
     'mid_channels'),
    (SpatialAttentionRefinement, dict(in_channels=8, kernel_size=2), ValueError,
     'kernel_size'),
    (SpatialAttentionRefinement, dict(in_channels=8, ratio=0), ValueError, 'ratio'),
])
def test_refinement_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)
