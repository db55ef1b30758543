# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
from mmseg.models.backbones.bisenetv1 import FeatureFusionModule as MMSegFFM

from mmseg_attn.models.layers import FeatureFusionModule
from mmseg_attn.testing import RefFFM, RefOverflowFFM, features, run_both


def _inputs(dtype, n=4, h=6, w=5):
    """Well-conditioned inputs (a norm on the pooled map divides by their
    spread over the batch)."""
    torch.manual_seed(1)
    return features(n, 8, h, w, dtype), features(n, 16, h, w, dtype)


def test_ffm_paper_preset_matches_reference(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefFFM(24, 32).to(dtype)
    block = FeatureFusionModule(24, 32).to(dtype)  # the defaults are the paper preset
    assert block.mid_channels == 8
    copy_weights(ref, block)
    assert_same(*run_both(ref, block, _inputs(dtype), training))


def test_ffm_mmseg_preset_matches_mmseg(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = MMSegFFM(24, 32).to(dtype)
    block = FeatureFusionModule(24, 32, attn_convs=1, attn_norm=True).to(dtype)
    copy_weights(ref, block)
    assert_same(*run_both(ref, block, _inputs(dtype), training))
    fresh = FeatureFusionModule(24, 32, attn_convs=1, attn_norm=True).to(dtype)
    fresh.load_state_dict(ref.state_dict(), strict=True)
    assert_same(*run_both(ref, fresh, _inputs(dtype), training))


def test_ffm_overflow_preset_matches_reference(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefOverflowFFM(12, 24).to(dtype)
    block = FeatureFusionModule(
        24, 12, kernel_size=3, attn_convs=2, ratio=1, attn_bias=True,
        attn_norm=False).to(dtype)
    copy_weights(ref, block)
    assert_same(*run_both(ref, block, _inputs(dtype, h=7, w=3), training))


def test_ffm_mismatched_inputs():
    block = FeatureFusionModule(24, 8)
    x_sp = torch.randn(2, 8, 6, 5)
    with pytest.raises(ValueError, match=r'FeatureFusionModule.*\(2, 8, 6, 5\).*\(2, 16, 3, 5\)'):
        block(x_sp, torch.randn(2, 16, 3, 5))
    with pytest.raises(ValueError, match=r'FeatureFusionModule.*in_channels = 24'):
        block(x_sp, torch.randn(2, 8, 6, 5))
    with pytest.raises(ValueError, match='FeatureFusionModule'):
        block(x_sp, torch.randn(1, 16, 6, 5))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels=8, out_channels=0), ValueError, 'out_channels'),
    (dict(in_channels=8, kernel_size=2), ValueError, 'kernel_size'),
    (dict(in_channels=8, attn_convs=3), ValueError, 'attn_convs'),
    (dict(in_channels=8, ratio=0), ValueError, 'ratio'),
    (dict(in_channels=8, attn_norm=True, norm_cfg=None), ValueError, 'attn_norm'),
])
def test_ffm_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FeatureFusionModule(**kwargs)
