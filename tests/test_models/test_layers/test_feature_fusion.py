# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.backbones.bisenetv1 import FeatureFusionModule as MMSegFFM

from mmseg_attn.models.layers import FeatureFusionModule

# ---------------------------------------------------------------------------
# Reference code transcribed from the BiSeNet reference implementations.
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


class RefFFM(nn.Module):
    """FFM of the BiSeNet reference code (paper version, CoinCheung)."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.convblk = ConvBNReLU(in_chan, out_chan, ks=1, stride=1, padding=0)
        self.conv1 = nn.Conv2d(out_chan, out_chan // 4, kernel_size=1, stride=1, padding=0,
                               bias=False)
        self.conv2 = nn.Conv2d(out_chan // 4, out_chan, kernel_size=1, stride=1, padding=0,
                               bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, fsp, fcp):
        fcat = torch.cat([fsp, fcp], dim=1)
        feat = self.convblk(fcat)
        atten = F.avg_pool2d(feat, feat.size()[2:])
        atten = self.conv1(atten)
        atten = self.relu(atten)
        atten = self.conv2(atten)
        atten = self.sigmoid(atten)
        feat_atten = torch.mul(feat, atten)
        feat_out = feat_atten + feat
        return feat_out


class ConvBlock(nn.Module):

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=2, padding=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size,
                               stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, input):
        x = self.conv1(input)
        return self.relu(self.bn(x))


class RefOverflowFFM(nn.Module):
    """FFM of the ooooverflow BiSeNet code (seed article on BiSeNet)."""

    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.in_channels = in_channels
        self.convblock = ConvBlock(in_channels=self.in_channels, out_channels=num_classes,
                                   stride=1)
        self.conv1 = nn.Conv2d(num_classes, num_classes, kernel_size=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(num_classes, num_classes, kernel_size=1)
        self.sigmoid = nn.Sigmoid()
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))

    def forward(self, input_1, input_2):
        x = torch.cat((input_1, input_2), dim=1)
        assert self.in_channels == x.size(1)
        feature = self.convblock(x)
        x = self.avgpool(feature)
        x = self.relu(self.conv1(x))
        x = self.sigmoid(self.conv2(x))
        x = torch.mul(feature, x)
        x = torch.add(x, feature)
        return x


def _inputs(dtype, n=4, h=6, w=5):
    """Inputs whose channel means differ clearly between images (a norm on
    the pooled map divides by their spread over the batch)."""
    torch.manual_seed(1)

    def features(c):
        return torch.randn(n, c, h, w, dtype=dtype) + 2 * torch.randn(n, c, 1, 1, dtype=dtype)

    return (features(8), features(16))


def _run_both(ref, block, inputs, training):
    ref.train(training)
    block.train(training)
    return block(*inputs), ref(*inputs)


def test_ffm_paper_preset_matches_reference(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefFFM(24, 32).to(dtype)
    block = FeatureFusionModule(24, 32).to(dtype)  # the defaults are the paper preset
    assert block.mid_channels == 8
    copy_weights(ref, block)
    assert_same(*_run_both(ref, block, _inputs(dtype), training))


def test_ffm_mmseg_preset_matches_mmseg(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = MMSegFFM(24, 32).to(dtype)
    block = FeatureFusionModule(24, 32, attn_convs=1, attn_norm=True).to(dtype)
    copy_weights(ref, block)
    assert_same(*_run_both(ref, block, _inputs(dtype), training))
    fresh = FeatureFusionModule(24, 32, attn_convs=1, attn_norm=True).to(dtype)
    fresh.load_state_dict(ref.state_dict(), strict=True)
    assert_same(*_run_both(ref, fresh, _inputs(dtype), training))


def test_ffm_overflow_preset_matches_reference(dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefOverflowFFM(12, 24).to(dtype)
    block = FeatureFusionModule(
        24, 12, kernel_size=3, attn_convs=2, ratio=1, attn_bias=True,
        attn_norm=False).to(dtype)
    copy_weights(ref, block)
    assert_same(*_run_both(ref, block, _inputs(dtype, h=7, w=3), training))


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
