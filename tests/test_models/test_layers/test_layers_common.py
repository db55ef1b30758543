# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Properties every block shares: config building, shapes, gradients,
ResNet plugins, the factory and the shared helpers."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import build_plugin_layer
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import mmseg_attn.models.layers as layers
from mmseg_attn.models.layers import build_attention, build_gate, make_divisible

# type -> small constructor arguments (besides in_channels)
ONE_INPUT = {
    'SqueezeExcitation': dict(ratio=4),
    'ChannelAttention': dict(ratio=4),
    'SpatialAttention': dict(),
    'CBAM': dict(ratio=4),
    'AttentionRefinementModule': dict(),
    'PixelAttention': dict(),
    'SpatialAttentionRefinement': dict(),
    'FullyAttentionalBlock': dict(),
    'MSCAM': dict(),
}
TWO_INPUT = {
    'FeatureFusionModule': dict(out_channels=8),
    'AFF': dict(),
    'iAFF': dict(),
}
ABBRS = {
    'SqueezeExcitation': 'se',
    'ChannelAttention': 'channel_attn',
    'SpatialAttention': 'spatial_attn',
    'CBAM': 'cbam',
    'AttentionRefinementModule': 'arm',
    'PixelAttention': 'pixel_attn',
    'SpatialAttentionRefinement': 'sar',
    'FullyAttentionalBlock': 'fla',
    'MSCAM': 'mscam',
    'FeatureFusionModule': 'ffm',
    'AFF': 'aff',
    'iAFF': 'iaff',
}
SIZES = [(1, 1), (5, 7), (4, 9), (8, 3)]


def _build(name, channels=8, **kwargs):
    args = dict(ONE_INPUT.get(name, TWO_INPUT.get(name)), **kwargs)
    return MODELS.build(dict(type=name, in_channels=channels, **args))


def _inputs(name, n, h, w, channels=8):
    if name == 'FeatureFusionModule':
        return (torch.randn(n, 3, h, w), torch.randn(n, channels - 3, h, w))
    if name in TWO_INPUT:
        return (torch.randn(n, channels, h, w), torch.randn(n, channels, h, w))
    return (torch.randn(n, channels, h, w), )


def test_exports():
    assert sorted(layers.__all__) == sorted(
        list(ONE_INPUT) + list(TWO_INPUT)
        + ['build_attention', 'build_gate', 'make_divisible', 'num_inputs'])
    for name in list(ONE_INPUT) + list(TWO_INPUT):
        assert MODELS.get(name) is getattr(layers, name)


@pytest.mark.parametrize('name', list(ONE_INPUT) + list(TWO_INPUT))
def test_builds_from_config_with_abbr_and_docstring(name):
    block = _build(name)
    cls = type(block)
    assert cls is getattr(layers, name)
    assert cls._abbr_ == ABBRS[name]
    doc = cls.__doc__
    assert 'https://arxiv.org/abs/' in doc and 'Args:' in doc and 'Shapes' in doc
    assert block.in_channels == 8


@pytest.mark.parametrize('name', list(ONE_INPUT) + list(TWO_INPUT))
@pytest.mark.parametrize('size', SIZES, ids=[f'{h}x{w}' for h, w in SIZES])
def test_shapes(name, size):
    torch.manual_seed(0)
    block = _build(name)
    out_channels = 8
    # batch 1 in eval mode (a norm on a pooled map needs N > 1 in training)
    block.eval()
    with torch.no_grad():
        out = block(*_inputs(name, 1, *size))
    assert out.shape == (1, out_channels, *size)
    block.train()
    out = block(*_inputs(name, 2, *size))
    assert out.shape == (2, out_channels, *size)
    assert torch.isfinite(out).all()


def test_arm_and_ffm_change_channels():
    arm = MODELS.build(dict(type='AttentionRefinementModule', in_channels=6, out_channels=10))
    assert arm(torch.randn(2, 6, 5, 3)).shape == (2, 10, 5, 3)
    ffm = MODELS.build(dict(type='FeatureFusionModule', in_channels=6, out_channels=10))
    assert ffm(torch.randn(2, 2, 5, 3), torch.randn(2, 4, 5, 3)).shape == (2, 10, 5, 3)


@pytest.mark.parametrize('name', list(ONE_INPUT) + list(TWO_INPUT))
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    block = _build(name)
    with torch.no_grad():
        for param in block.parameters():  # move gamma etc. off zero
            param.add_(torch.randn_like(param) * 0.1)
    inputs = [t.requires_grad_() for t in _inputs(name, 2, 5, 4)]
    block(*inputs).square().mean().backward()
    for pname, param in block.named_parameters():
        assert param.grad is not None, f'{name}.{pname} is unused'
        assert param.grad.abs().sum() > 0, f'{name}.{pname} has a zero gradient'
    for t in inputs:
        assert t.grad is not None and t.grad.abs().sum() > 0


@pytest.mark.parametrize('gate', ['Sigmoid', 'HSigmoid'])
@pytest.mark.parametrize('name', [
    'SqueezeExcitation', 'ChannelAttention', 'SpatialAttention', 'CBAM',
    'AttentionRefinementModule', 'PixelAttention', 'SpatialAttentionRefinement', 'MSCAM'
])
def test_gates_bfloat16_autocast_are_finite(name, gate):
    torch.manual_seed(0)
    block = _build(name, gate_cfg=dict(type=gate)).eval()
    x = torch.randn(2, 8, 6, 5) * 30
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize('name', list(ONE_INPUT))
def test_gate_cfg_is_used(name):
    if name == 'FullyAttentionalBlock':  # softmax attention, no gate
        with pytest.raises(TypeError):
            _build(name, gate_cfg=dict(type='Tanh'))
        return
    block = _build(name, gate_cfg=dict(type='Tanh'))
    assert any(isinstance(m, nn.Tanh) for m in block.modules())
    assert not any(isinstance(m, nn.Sigmoid) for m in block.modules())


# ---------------------------------------------------------------------------
# ResNet plugins through mmcv's build_plugin_layer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('name', list(ONE_INPUT))
def test_build_plugin_layer(name):
    # mmcv looks plugins up in the default scope, which mmseg's Runner sets to
    # 'mmseg'; outside a Runner the scope prefix 'mmseg.' does the same
    cfg = dict(type=name, **ONE_INPUT[name])
    with DefaultScope.overwrite_default_scope('mmseg'):
        layer_name, layer = build_plugin_layer(cfg, postfix='_3', in_channels=16)
    assert layer_name == ABBRS[name] + '_3'
    assert type(layer) is getattr(layers, name) and layer.in_channels == 16
    assert cfg == dict(type=name, **ONE_INPUT[name])  # not consumed
    layer_name, layer = build_plugin_layer(
        dict(cfg, type=f'mmseg.{name}'), postfix=1, in_channels=16)
    assert layer_name == ABBRS[name] + '1'
    assert type(layer) is getattr(layers, name)


@pytest.mark.parametrize('name', list(ONE_INPUT))
def test_resnet_plugin(name):
    torch.manual_seed(0)
    plugin = dict(
        cfg=dict(type=name, **ONE_INPUT[name]),
        stages=(False, False, True, True),
        position='after_conv3')
    with DefaultScope.overwrite_default_scope('mmseg'):
        resnet = MODELS.build(
            dict(
                type='ResNetV1c',
                depth=50,
                stem_channels=8,
                base_channels=4,
                num_stages=4,
                out_indices=(0, 1, 2, 3),
                norm_cfg=dict(type='BN'),
                plugins=[plugin]))
    abbr = ABBRS[name]
    assert not hasattr(resnet.layer2[0], abbr)
    for stage, channels in ((resnet.layer3, 64), (resnet.layer4, 128)):
        for block in stage:
            assert block.after_conv3_plugin_names == [abbr]
            plugin_layer = getattr(block, abbr)
            assert type(plugin_layer) is getattr(layers, name)
            assert plugin_layer.in_channels == channels
    outs = resnet(torch.randn(2, 3, 64, 32))
    assert [o.shape[1] for o in outs] == [16, 32, 64, 128]
    assert outs[-1].shape[2:] == (2, 1)  # 64 x 32 at stride 32
    sum(o.mean() for o in outs).backward()
    for pname, param in resnet.named_parameters():
        if f'.{abbr}.' in pname:
            assert param.grad is not None, pname


# ---------------------------------------------------------------------------
# build_attention, build_gate, make_divisible
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('cfg', [None, {}, '', False])
def test_build_attention_falsy(cfg):
    assert build_attention(cfg, 16) is None


def test_build_attention():
    block = build_attention(dict(type='CBAM', ratio=4), 16, norm_cfg=dict(type='BN'))
    assert isinstance(block, layers.CBAM) and block.in_channels == 16
    assert isinstance(block.spatial_attention.conv.bn, nn.BatchNorm2d)
    # keys in cfg win over the caller's defaults
    block = build_attention(dict(type='MSCAM', ratio=2), 16, ratio=8)
    assert block.mid_channels == 8
    assert isinstance(build_attention('SqueezeExcitation', 16), layers.SqueezeExcitation)
    cfg = dict(type='PixelAttention', in_channels=16)
    assert build_attention(cfg, 16).in_channels == 16
    assert cfg == dict(type='PixelAttention', in_channels=16)


@pytest.mark.parametrize('cfg, channels, error, match', [
    (dict(type='CBAM', in_channels=8), 16, ValueError, 'in_channels'),
    (dict(ratio=4), 16, KeyError, 'type'),
    (['CBAM'], 16, TypeError, 'cfg'),
    (dict(type='CBAM'), 0, ValueError, 'in_channels'),
    (dict(type='NoSuchBlock'), 16, KeyError, 'NoSuchBlock'),
])
def test_build_attention_errors(cfg, channels, error, match):
    with pytest.raises(error, match=match):
        build_attention(cfg, channels)


def test_build_gate():
    assert isinstance(build_gate(None), nn.Sigmoid)
    assert isinstance(build_gate(dict(type='Sigmoid')), nn.Sigmoid)
    gate = build_gate(dict(type='HSigmoid'))
    x = torch.linspace(-10, 10, 101)
    torch.testing.assert_close(gate(x), torch.clamp((x + 3) / 6, 0, 1))
    with pytest.raises(TypeError, match='gate_cfg'):
        build_gate('Sigmoid')
    with pytest.raises(KeyError, match='type'):
        build_gate(dict(inplace=True))


@pytest.mark.parametrize('value, divisor, expected', [
    (16, 1, 16),
    (13.5, 8, 16),  # mmpretrain's SELayer(54, ratio=4)
    (4, 8, 8),
    (0.25, 1, 1),  # never zero
    (0.25, 8, 8),
    (10, 8, 16),  # 8 would lose more than 10 %
    (36, 8, 40),
    (7.4, 1, 7),
])
def test_make_divisible(value, divisor, expected):
    assert make_divisible(value, divisor) == expected


@pytest.mark.parametrize('value, divisor, match', [
    (0, 1, 'value'),
    (-4, 1, 'value'),
    (8, 0, 'divisor'),
    (8, 2.0, 'divisor'),
])
def test_make_divisible_errors(value, divisor, match):
    with pytest.raises(ValueError, match=match):
        make_divisible(value, divisor)
