# Copyright (c) mmseg_attn contributors. All rights reserved.
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mmseg_attn.models.layers import AttentionRefinementModule, FeatureFusionModule
from mmseg_attn.models.necks import FFMNeck

register_all_modules()

# mmseg's BiSeNetV1 and the paper's reference code, as in configs/_base_/models/
MMSEG = dict(
    in_channels=(16, 32, 64),
    out_channels=24,
    context_channels=16,
    context_fusion='sum',
    global_context='add',
    global_conv=True,
    upsample_mode='nearest',
    arm_cfg=dict(with_conv=True, attn_norm=True),
    ffm_cfg=dict(kernel_size=1, attn_convs=1, attn_bias=False, attn_norm=True))
PAPER = dict(
    in_channels=(16, 32, 64),
    out_channels=24,
    context_channels=None,
    context_fusion='concat',
    global_context='mul',
    global_conv=False,
    upsample_mode='bilinear',
    arm_cfg=dict(with_conv=False, attn_norm=False),
    ffm_cfg=dict(kernel_size=3, attn_convs=2, ratio=1, attn_bias=True, attn_norm=False))

# odd sizes: 1/8, 1/16 and 1/32 of a 75 x 99 image
SIZES = ((10, 13), (5, 7), (3, 4))


def _inputs(channels=(16, 32, 64), batch=2):
    torch.manual_seed(0)
    return [torch.rand(batch, c, h, w) for c, (h, w) in zip(channels, SIZES)]


def _capture(module, store, key):
    module.register_forward_hook(lambda m, args, out: store.__setitem__(key, (args, out)))


def test_mmseg_variant_shapes_and_parts():
    neck = FFMNeck(**MMSEG).eval()
    assert isinstance(neck.arm16, AttentionRefinementModule)
    assert isinstance(neck.ffm, FeatureFusionModule)
    assert neck.ffm.in_channels == 16 + 16 and neck.ffm.attn_convs == 1
    with torch.no_grad():
        fused, ctx8, ctx16 = neck(_inputs())
    assert fused.shape == (2, 24, *SIZES[0])
    assert ctx8.shape == (2, 16, *SIZES[0])
    assert ctx16.shape == (2, 16, *SIZES[1])


def _run_captured(neck):
    """Run ``neck`` without gradients, capturing the inputs and outputs of its
    ARMs and FFM; returns the inputs, the captures and the outputs."""
    inputs = _inputs()
    seen = {}
    for name in ('arm16', 'arm32', 'ffm'):
        _capture(getattr(neck, name), seen, name)
    with torch.no_grad():
        outputs = neck(list(inputs))
    return inputs, seen, outputs


def test_mmseg_variant_dataflow():
    """Top-down sum with nearest upsampling and conv heads, as mmseg's ContextPath."""
    neck = FFMNeck(**MMSEG).eval()
    (x_sp, x16, x32), seen, (fused, ctx8, ctx16) = _run_captured(neck)
    with torch.no_grad():
        tail = neck.global_conv(F.adaptive_avg_pool2d(x32, 1))
        out32 = seen['arm32'][1] + tail
        up32 = neck.conv_head32(F.interpolate(out32, size=SIZES[1], mode='nearest'))
        up16 = neck.conv_head16(
            F.interpolate(seen['arm16'][1] + up32, size=SIZES[0], mode='nearest'))
    assert torch.allclose(ctx16, up32, atol=1e-6)
    assert torch.allclose(ctx8, up16, atol=1e-6)
    ffm_args, ffm_out = seen['ffm']
    assert ffm_args[0] is x_sp
    assert torch.equal(ffm_args[1], ctx8)
    assert torch.equal(ffm_out, fused)


def test_paper_variant_dataflow():
    """ARM(x32) times the global mean, both stages upsampled and concatenated."""
    neck = FFMNeck(**PAPER).eval()
    assert neck.global_conv is None
    assert not hasattr(neck, 'conv_head32')
    assert neck.ffm.in_channels == 16 + 32 + 64
    assert neck.ffm.conv1.conv.kernel_size == (3, 3)
    (x_sp, x16, x32), seen, (fused, ctx8, ctx16) = _run_captured(neck)
    expected32 = F.interpolate(
        seen['arm32'][1] * x32.mean((2, 3), keepdim=True),
        size=SIZES[0],
        mode='bilinear',
        align_corners=False)
    expected16 = F.interpolate(
        seen['arm16'][1], size=SIZES[0], mode='bilinear', align_corners=False)
    assert torch.allclose(ctx16, expected32, atol=1e-6)
    assert torch.allclose(ctx8, expected16, atol=1e-6)
    assert fused.shape == (2, 24, *SIZES[0])
    ffm_args, _ = seen['ffm']
    assert ffm_args[0] is x_sp
    assert torch.equal(ffm_args[1], torch.cat([ctx8, ctx16], dim=1))


@pytest.mark.parametrize('global_context', ['add', 'mul', None])
def test_global_context_modes(global_context):
    neck = FFMNeck(**dict(MMSEG, global_context=global_context)).eval()
    assert (neck.global_conv is None) == (global_context is None)
    seen = {}
    _capture(neck.arm32, seen, 'arm32')
    _capture(neck.conv_head32, seen, 'head32')
    inputs = _inputs()
    with torch.no_grad():
        neck(inputs)
        arm = seen['arm32'][1]
        if global_context is None:
            expected = arm
        else:
            tail = neck.global_conv(inputs[2].mean((2, 3), keepdim=True))
            expected = arm + tail if global_context == 'add' else arm * tail
    head_in = seen['head32'][0][0]
    assert torch.allclose(head_in, F.interpolate(expected, size=SIZES[1]), atol=1e-6)


@pytest.mark.parametrize('norm_cfg,norm_type', [
    (dict(type='GN', num_groups=4, requires_grad=True), nn.GroupNorm),
    (dict(type='SyncBN', requires_grad=True), nn.SyncBatchNorm),
])
def test_norm_cfg_reaches_every_layer(norm_cfg, norm_type):
    for preset in (MMSEG, PAPER):
        neck = FFMNeck(**preset, norm_cfg=norm_cfg)
        norms = [m for m in neck.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
                 or isinstance(m, nn.GroupNorm)]
        assert norms
        assert all(isinstance(m, norm_type) for m in norms), norms
        assert not any(type(m) is nn.BatchNorm2d for m in neck.modules())
    # the mmseg variant has norms in the ARM attention and the FFM attention too
    neck = FFMNeck(**MMSEG, norm_cfg=norm_cfg)
    assert isinstance(neck.arm16.atten_conv_layer[1].norm, norm_type)
    assert isinstance(neck.ffm.conv_atten[0].norm, norm_type)
    assert isinstance(neck.global_conv.norm, norm_type)


def test_group_norm_forward():
    neck = FFMNeck(**MMSEG, norm_cfg=dict(type='GN', num_groups=4)).train()
    fused, ctx8, ctx16 = neck(_inputs(batch=1))
    assert fused.shape == (1, 24, *SIZES[0])


def test_act_and_block_options_are_passed():
    with warnings.catch_warnings():  # mmcv's HSigmoid always warns about its defaults
        warnings.simplefilter('ignore', UserWarning)
        neck = FFMNeck(
            **dict(
                MMSEG,
                arm_cfg=dict(gate_cfg=dict(type='HSigmoid')),
                ffm_cfg=dict(attn_convs=2, ratio=2)),
            act_cfg=dict(type='LeakyReLU'))
    for arm in (neck.arm16, neck.arm32):
        assert type(arm.atten_conv_layer[-1]).__name__ == 'HSigmoid'
    assert neck.ffm.attn_convs == 2 and neck.ffm.mid_channels == 12
    acts = [m.activate for m in neck.modules() if isinstance(m, ConvModule) and m.with_activation]
    assert len(acts) >= 7  # ARM convs, global conv, conv heads, FFM convs
    assert all(isinstance(a, nn.LeakyReLU) for a in acts)


def test_gradients_reach_every_parameter():
    for preset in (MMSEG, PAPER):
        neck = MODELS.build(dict(type='FFMNeck', **preset)).train()
        outs = neck(_inputs())
        sum(o.mean() for o in outs).backward()
        for name, p in neck.named_parameters():
            assert p.grad is not None, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=(16, 32)), 'in_channels'),
    (dict(out_channels=0), 'out_channels'),
    (dict(context_channels=-1), 'context_channels'),
    (dict(context_fusion='cat'), 'context_fusion'),
    (dict(global_context='max'), 'global_context'),
    (dict(upsample_mode='trilinear'), 'upsample_mode'),
    (dict(arm_cfg='ARM'), 'arm_cfg'),
    (dict(context_channels=None, arm_cfg=dict(with_conv=False)), 'context_channels'),
    (dict(global_conv=False), 'global_conv'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        FFMNeck(**dict(MMSEG, **kwargs))


def test_wrong_number_of_inputs():
    neck = FFMNeck(**MMSEG)
    with pytest.raises(ValueError, match='3 inputs'):
        neck(_inputs()[:2])
