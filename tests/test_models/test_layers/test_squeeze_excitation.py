# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn

from mmseg_attn.models.layers import SqueezeExcitation


class RefSELayer(nn.Module):
    """SE layer transcribed from the reference article (``bias`` added so
    that the paper's biased FC layers can be checked too)."""

    def __init__(self, channel, reduction=16, bias=False):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=bias),
            nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


@pytest.mark.parametrize('bias', [False, True])
def test_se_matches_reference(bias, dtype, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefSELayer(32, reduction=4, bias=bias).to(dtype)
    block = SqueezeExcitation(32, ratio=4, bias=bias).to(dtype)
    assert block.mid_channels == 8
    copy_weights(ref, block)
    x = torch.randn(2, 32, 5, 7, dtype=dtype)
    assert_same(block(x), ref(x))


def test_se_widths():
    # ratio and divisor both go through make_divisible; never zero
    assert SqueezeExcitation(54, ratio=4, divisor=8).mid_channels == 16
    assert SqueezeExcitation(64, ratio=16).mid_channels == 4
    assert SqueezeExcitation(4, ratio=16).mid_channels == 1
    assert SqueezeExcitation(4, ratio=16, divisor=8).mid_channels == 8
    assert SqueezeExcitation(64, mid_channels=5).mid_channels == 5
    assert SqueezeExcitation(64, ratio=16).reduce.conv.out_channels == 4


def test_se_gate_cfg():
    block = SqueezeExcitation(8, ratio=2, gate_cfg=dict(type='HSigmoid'))
    assert type(block.gate).__name__ == 'HSigmoid'
    x = torch.randn(2, 8, 3, 3)
    s = block.attention_map(x)
    assert s.shape == (2, 8, 1, 1)
    assert torch.all((s >= 0) & (s <= 1))
    torch.testing.assert_close(block(x), x * s)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels=-3), ValueError, 'in_channels'),
    (dict(in_channels=8.0), TypeError, 'in_channels'),
    (dict(in_channels=8, ratio=0), ValueError, 'ratio'),
    (dict(in_channels=8, ratio=-2), ValueError, 'ratio'),
    (dict(in_channels=8, mid_channels=0), ValueError, 'mid_channels'),
    (dict(in_channels=8, divisor=0), ValueError, 'divisor'),
    (dict(in_channels=8, gate_cfg='sigmoid'), TypeError, 'gate_cfg'),
])
def test_se_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SqueezeExcitation(**kwargs)
