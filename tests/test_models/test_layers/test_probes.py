# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The public probe points of the blocks: ``attention_kind``, ``num_inputs``,
``gate`` (whose output is exactly the weights the forward applies) and FLA's
``attention_probe``."""
import pytest
import torch
import torch.nn as nn
from mmseg.registry import MODELS

import mmseg_attn.models.layers as layers
from mmseg_attn.models.layers import num_inputs

KINDS = {
    'SqueezeExcitation': 'channel',
    'ChannelAttention': 'channel',
    'SpatialAttention': 'spatial',
    'CBAM': None,
    'AttentionRefinementModule': 'channel',
    'PixelAttention': 'pixel',
    'SpatialAttentionRefinement': 'spatial',
    'FeatureFusionModule': 'channel',
    'MSCAM': 'pixel',
    'AFF': 'fusion',
    'iAFF': 'fusion',
    'FullyAttentionalBlock': 'fla',
}
TWO_INPUTS = ('FeatureFusionModule', 'AFF', 'iAFF')


def _blocks():
    return [name for name in layers.__all__ if MODELS.get(name) is getattr(layers, name)]


def test_every_block_declares_its_kind_and_inputs():
    assert sorted(_blocks()) == sorted(KINDS)
    for name, kind in KINDS.items():
        cls = getattr(layers, name)
        assert cls.attention_kind == kind, name
        assert num_inputs(MODELS.build(dict(type=name, in_channels=8))) == \
            (2 if name in TWO_INPUTS else 1), name


def test_num_inputs_of_a_foreign_block_comes_from_its_signature():

    class Fuse(nn.Module):

        def forward(self, x, y, scale=1.0):
            return (x + y) * scale

    assert num_inputs(Fuse()) == 2
    assert num_inputs(nn.Identity()) == 1


def _captured(block, *inputs):
    """The block's output and what its probe emitted during that forward."""
    seen = []
    handle = block.gate.register_forward_hook(lambda m, a, out: seen.append(out))
    try:
        out = block(*inputs)
    finally:
        handle.remove()
    assert len(seen) == 1
    return out, seen[0]


@pytest.mark.parametrize('name, shape', [
    ('SqueezeExcitation', (2, 8, 1, 1)),
    ('ChannelAttention', (2, 8, 1, 1)),
    ('SpatialAttention', (2, 1, 5, 7)),
    ('PixelAttention', (2, 8, 5, 7)),
    ('SpatialAttentionRefinement', (2, 1, 5, 7)),
    ('MSCAM', (2, 8, 5, 7)),
])
def test_gate_output_is_the_applied_weight(name, shape):
    torch.manual_seed(0)
    block = MODELS.build(dict(type=name, in_channels=8)).eval()
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        out, weights = _captured(block, x)
    assert weights.shape == shape
    torch.testing.assert_close(out, x * weights, rtol=0, atol=0)


def test_arm_and_ffm_gates_weigh_their_features():
    torch.manual_seed(0)
    arm = layers.AttentionRefinementModule(6, 4).eval()
    ffm = layers.FeatureFusionModule(8, 4).eval()
    a, b = torch.randn(2, 6, 5, 3), torch.randn(2, 4, 5, 3)
    with torch.no_grad():
        out, weights = _captured(arm, a)
        torch.testing.assert_close(out, arm.conv_layer(a) * weights, rtol=0, atol=0)
        x = torch.randn(2, 4, 5, 3)
        out, weights = _captured(ffm, x, b)
        fused = ffm.conv1(torch.cat([x, b], 1))
        torch.testing.assert_close(out, fused * weights + fused, rtol=0, atol=0)
    assert arm.gate is arm.atten_conv_layer[-1] and ffm.gate is ffm.conv_atten[-1]


@pytest.mark.parametrize('name', ['AFF', 'iAFF'])
def test_fusion_gate_is_the_weight_of_the_first_input(name):
    torch.manual_seed(0)
    block = MODELS.build(dict(type=name, in_channels=8, ratio=2)).eval()
    x, y = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)
    with torch.no_grad():
        out, w = _captured(block, x, y)
    torch.testing.assert_close(out, x * w + y * (1 - w), rtol=0, atol=0)
    assert block.gate is block.attention.gate


def test_iaff_is_an_aff_with_an_attentional_initial_integration():
    torch.manual_seed(0)
    block = layers.iAFF(8, ratio=2).eval()
    assert isinstance(block, layers.AFF)
    x, y = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)
    with torch.no_grad():
        w = block.attention.attention_map(block.initial_fusion(x, y))
        torch.testing.assert_close(block(x, y), x * w + y * (1 - w), rtol=0, atol=0)
    # parameters in the order of computation: round 1, then round 2
    names = [n for n, _ in block.named_parameters()]
    assert names[0].startswith('initial_fusion.') and names[-1].startswith('attention.')
