# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch

from mmseg_attn.models.layers import SqueezeExcitation
from mmseg_attn.testing import RefSELayer


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
