# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.backbones.bisenetv1 import AttentionRefinementModule as MMSegARM

from mmseg_attn.models.layers import (
    AttentionRefinementModule,
    PixelAttention,
    SpatialAttentionRefinement,
)

# ---------------------------------------------------------------------------
# Reference code transcribed from the articles (defects fixed where noted).
# ---------------------------------------------------------------------------


class ConvBNReLU(nn.Module):

    def __init__(self, in_chan, out_chan, ks=3, stride=1, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, kernel_size=ks, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_chan)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class RefARM(nn.Module):
    """ARM of the BiSeNet reference code (seed article on ARM)."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.conv = ConvBNReLU(in_chan, out_chan, ks=3, stride=1, padding=1)
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)
        self.sigmoid_atten = nn.Sigmoid()

    def forward(self, x):
        feat = self.conv(x)
        atten = F.avg_pool2d(feat, feat.size()[2:])
        atten = self.conv_atten(atten)
        atten = self.bn_atten(atten)
        atten = self.sigmoid_atten(atten)
        out = torch.mul(feat, atten)
        return out


class RefSimpleARM(nn.Module):
    """Simplified ARM of the ooooverflow BiSeNet code (seed article on
    BiSeNet)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)  # built but unused there
        self.sigmoid = nn.Sigmoid()
        self.in_channels = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))

    def forward(self, input):
        x = self.avgpool(input)
        assert self.in_channels == x.size(1)
        x = self.conv(x)
        x = self.sigmoid(x)
        x = torch.mul(input, x)
        return x


class RefAttentionout(nn.Module):
    """"Attentionout"; the defect (residual computed, then dropped) fixed by
    an explicit ``residual`` switch."""

    def __init__(self, out_chan, residual):
        super().__init__()
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)
        self.sigmoid_atten = nn.Sigmoid()
        self.residual = residual

    def forward(self, x):
        atten = self.conv_atten(x)
        atten = self.bn_atten(atten)
        atten = self.sigmoid_atten(atten)
        out = torch.mul(x, atten)
        if self.residual:
            return x + out
        return out


class RefSAR(nn.Module):
    """SAR; the unused ``out_chan`` dropped, the undefined ``bn_atten`` and
    ``sigmoid_atten`` read as BatchNorm2d(1) and a sigmoid."""

    def __init__(self, in_chan, mid):
        super().__init__()
        self.conv_reduce = ConvBNReLU(in_chan, mid, 1, 1, 0)
        self.conv_atten = nn.Conv2d(2, 1, kernel_size=3, padding=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(1)
        self.sigmoid_atten = nn.Sigmoid()

    def forward(self, x):
        x_att = self.conv_reduce(x)
        low_attention_mean = torch.mean(x_att, 1, True)
        low_attention_max = torch.max(x_att, 1, True)[0]
        low_attention = torch.cat([low_attention_mean, low_attention_max], dim=1)
        spatial_attention = self.sigmoid_atten(self.bn_atten(self.conv_atten(low_attention)))
        x = x * spatial_attention
        return x


def _run_both(ref, block, x, training):
    ref.train(training)
    block.train(training)
    return block(x), ref(x)


def test_arm_matches_reference(dtype, training, copy_weights, assert_same, features):
    torch.manual_seed(0)
    ref = RefARM(16, 24).to(dtype)
    block = AttentionRefinementModule(16, 24).to(dtype)
    copy_weights(ref, block)
    x = features(4, 16, 7, 5, dtype)
    assert_same(*_run_both(ref, block, x, training))


def test_arm_matches_mmseg(dtype, training, copy_weights, assert_same, features):
    torch.manual_seed(0)
    ref = MMSegARM(16, 24).to(dtype)
    block = AttentionRefinementModule(16, 24).to(dtype)
    copy_weights(ref, block)
    x = features(4, 16, 6, 9, dtype)
    assert_same(*_run_both(ref, block, x, training))
    # submodule names follow mmseg's: its state dict loads unchanged
    fresh = AttentionRefinementModule(16, 24).to(dtype)
    fresh.load_state_dict(ref.state_dict(), strict=True)
    assert_same(*_run_both(ref, fresh, x, training))


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
    ref = RefAttentionout(12, residual).to(dtype)
    block = PixelAttention(12, residual=residual).to(dtype)
    copy_weights(ref, block)
    x = torch.randn(2, 12, 5, 3, dtype=dtype)
    assert_same(*_run_both(ref, block, x, training))


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
    assert_same(*_run_both(ref, block, x, training))
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
