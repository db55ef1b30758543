# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmseg_attn.models.layers import CBAM, ChannelAttention, SpatialAttention
from mmseg_attn.testing import RefCBAM, flip_mean_max
from mmseg_attn.testing import RefChannelGate as ChannelGate
from mmseg_attn.testing import RefSpatialGate as SpatialGate


def test_channel_attention_matches_official(dtype, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = ChannelGate(32, 8).to(dtype)
    block = ChannelAttention(32, ratio=8).to(dtype)
    copy_weights(ref, block)
    x = torch.randn(2, 32, 5, 6, dtype=dtype)
    assert_same(block(x), ref(x))


@pytest.mark.parametrize('pool_types', [('avg', ), ('max', )])
def test_channel_attention_single_pool(pool_types, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = ChannelGate(16, 4, pool_types)
    block = ChannelAttention(16, ratio=4, pool_types=pool_types)
    copy_weights(ref, block)
    x = torch.randn(2, 16, 4, 3)
    assert_same(block(x), ref(x))


@pytest.mark.parametrize('bn', [True, False], ids=['official-bn', 'paper-plain-conv'])
def test_spatial_attention_matches_official(bn, dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = SpatialGate(7, bn=bn).to(dtype)
    norm_cfg = dict(type='BN', momentum=0.01) if bn else None
    block = SpatialAttention(16, norm_cfg=norm_cfg).to(dtype)
    assert (block.conv.conv.bias is None) == bn
    copy_weights(ref, block)
    flip_mean_max(block)
    ref.train(training)
    block.train(training)
    x = torch.randn(2, 16, 9, 7, dtype=dtype)
    assert_same(block(x), ref(x))
    assert block.attention_map(x).shape == (2, 1, 9, 7)


@pytest.mark.parametrize('kernel_size', [3, 7])
def test_cbam_matches_official(kernel_size, dtype, training, copy_weights, assert_same):
    torch.manual_seed(0)
    ref = RefCBAM(32, 16, kernel_size=kernel_size).to(dtype)
    block = CBAM(32, ratio=16, kernel_size=kernel_size,
                 norm_cfg=dict(type='BN', momentum=0.01)).to(dtype)
    copy_weights(ref, block)
    flip_mean_max(block.spatial_attention)
    ref.train(training)
    block.train(training)
    x = torch.randn(2, 32, 7, 5, dtype=dtype)
    assert_same(block(x), ref(x))


def test_cbam_orders(assert_same):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 4, dtype=torch.float64)
    blocks = {
        order: CBAM(16, ratio=4, order=order).double()
        for order in ('channel_first', 'spatial_first', 'parallel')
    }
    state = blocks['channel_first'].state_dict()
    for block in blocks.values():
        block.load_state_dict(state)
    channel, spatial = ChannelGate(16, 4).double(), SpatialGate(7, bn=False).double()
    channel.mlp[1].weight.data.copy_(state['channel_attention.mlp.0.conv.weight'].flatten(1))
    channel.mlp[1].bias.data.copy_(state['channel_attention.mlp.0.conv.bias'])
    channel.mlp[3].weight.data.copy_(state['channel_attention.mlp.1.conv.weight'].flatten(1))
    channel.mlp[3].bias.data.copy_(state['channel_attention.mlp.1.conv.bias'])
    spatial.spatial.conv.weight.data.copy_(
        state['spatial_attention.conv.conv.weight'].flip(1))
    spatial.spatial.conv.bias.data.copy_(state['spatial_attention.conv.conv.bias'])
    assert_same(blocks['channel_first'](x), spatial(channel(x)))
    assert_same(blocks['spatial_first'](x), channel(spatial(x)))
    # parallel: both maps from the input, y = x * M_c(x) * M_s(x)
    pooled_avg = F.avg_pool2d(x, (x.size(2), x.size(3)))
    pooled_max = F.max_pool2d(x, (x.size(2), x.size(3)))
    m_c = torch.sigmoid(channel.mlp(pooled_avg) + channel.mlp(pooled_max))[:, :, None, None]
    m_s = torch.sigmoid(spatial.spatial(spatial.compress(x)))
    assert_same(blocks['parallel'](x), x * m_c * m_s)


def test_cbam_gradcheck():
    torch.manual_seed(0)
    block = CBAM(8, ratio=2, kernel_size=3).double()
    x = torch.randn(2, 8, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, ), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize('cls, kwargs, error, match', [
    (SpatialAttention, dict(in_channels=8, kernel_size=4), ValueError, 'kernel_size'),
    (SpatialAttention, dict(in_channels=8, kernel_size=0), ValueError, 'kernel_size'),
    (SpatialAttention, dict(in_channels=8, kernel_size=3.0), TypeError, 'kernel_size'),
    (SpatialAttention, dict(in_channels=0), ValueError, 'in_channels'),
    (CBAM, dict(in_channels=8, kernel_size=6), ValueError, 'kernel_size'),
    (CBAM, dict(in_channels=8, order='random'), ValueError, 'order'),
    (CBAM, dict(in_channels=8, ratio=0), ValueError, 'ratio'),
    (ChannelAttention, dict(in_channels=8, pool_types=('avg', 'lse')), ValueError,
     'pool_types'),
    (ChannelAttention, dict(in_channels=8, pool_types=()), ValueError, 'pool_types'),
    (ChannelAttention, dict(in_channels=-1), ValueError, 'in_channels'),
])
def test_cbam_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)
