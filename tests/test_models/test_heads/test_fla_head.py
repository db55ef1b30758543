# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_attn.models.decode_heads import FLAHead
from mmseg_attn.models.layers import FullyAttentionalBlock
from mmseg_attn.testing import randomize_norms
from mmseg_attn.testing.fla import FLA_HEAD_KEY_MAP, FLAHeadReference, FLAReference, translate_keys

BN = dict(type='BN')


@torch.no_grad()
def _randomize(module, seed=0):
    """Non-trivial norm statistics and affine parameters, and a non-zero gamma."""
    randomize_norms(module, torch.Generator().manual_seed(seed))
    for m in module.modules():
        if isinstance(m, FLAReference):
            m.gamma.fill_(0.7)


def _pair(in_channels=12, channels=8, num_classes=5, dtype=torch.float64, fixed=True,
          fla_cfg=None):
    """A reference head and a FLAHead holding the same weights."""
    torch.manual_seed(0)
    ref = FLAHeadReference(in_channels, channels, num_classes, fix_batch=fixed).to(dtype)
    _randomize(ref)
    head = FLAHead(
        in_channels=in_channels, channels=channels, num_classes=num_classes, norm_cfg=BN,
        fla_cfg=fla_cfg).to(dtype)
    head.load_state_dict(translate_keys(ref.state_dict(), FLA_HEAD_KEY_MAP), strict=True)
    return ref, head


@pytest.mark.parametrize('size', [(7, 9), (5, 4), (1, 3)])
@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_matches_official_head(size, training):
    ref, head = _pair()
    ref.train(training)
    head.train(training)
    if training:  # dropout is random; BN uses the batch statistics in both
        ref.conv_out1.conv[4].p = 0.
        head.dropout.p = 0.
    x = torch.randn(2, 12, *size, dtype=torch.float64)
    expected = ref(x)
    out = head([x])
    assert out.shape == (2, 5, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('impl', FullyAttentionalBlock.IMPLS)
def test_every_fla_impl_matches_official_head(impl):
    ref, head = _pair(fla_cfg=dict(impl=impl))
    ref.eval()
    head.eval()
    assert head.fla.impl == impl
    x = torch.randn(2, 12, 9, 7, dtype=torch.float64)
    torch.testing.assert_close(head([x]), ref(x), rtol=1e-10, atol=1e-10)


def test_official_pairing_mixes_the_batch():
    ref_official, _ = _pair(fixed=False)
    ref_fixed, head = _pair(fixed=True)
    for m in (ref_official, ref_fixed, head):
        m.eval()
    torch.manual_seed(1)
    x = torch.randn(2, 12, 6, 5, dtype=torch.float64)
    x[1] = x[1] * 3 + 1  # two clearly different images
    stacked = torch.cat([ref_fixed(x[i:i + 1]) for i in range(2)])
    # batch size 1: the official block is right
    torch.testing.assert_close(ref_official(x[:1]), stacked[:1])
    # batch size 2: it pairs columns with the other image's priors, the head does not
    assert not torch.allclose(ref_official(x), stacked)
    torch.testing.assert_close(ref_fixed(x), stacked, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(head([x]), stacked, rtol=1e-10, atol=1e-10)


def test_structure_and_registry():
    head = MODELS.build(
        dict(type='FLAHead', in_channels=16, channels=8, num_classes=3, norm_cfg=BN))
    assert isinstance(head, FLAHead)
    assert isinstance(head.fla, FullyAttentionalBlock)
    assert head.fla.in_channels == 8
    assert [m.conv.in_channels for m in head.reduce] == [16, 8]
    assert [m.conv.kernel_size for m in head.reduce] == [(3, 3), (3, 3)]
    assert head.bottleneck.conv.in_channels == 16 + 8
    assert head.bottleneck.conv.out_channels == 8
    assert head.conv_seg.in_channels == 8 and head.conv_seg.out_channels == 3
    assert head.upsample_scale == 2 and head.upsample_mode == 'nearest'
    # the head's norm reaches every conv, FLA's included
    norms = [m for m in head.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 4
    # init_weights reaches every ConvModule (a plain nn.Sequential would hide them)
    convs = [head.reduce[0].conv, head.reduce[1].conv, head.bottleneck.conv]
    before = [c.weight.clone() for c in convs]
    head.init_weights()
    assert all(not torch.equal(b, c.weight) for b, c in zip(before, convs))
    head = FLAHead(
        in_channels=16, channels=8, num_classes=3,
        norm_cfg=dict(type='GN', num_groups=2), fla_cfg=dict(chunk_size=3))
    assert head.fla.chunk_size == 3
    assert len([m for m in head.modules() if isinstance(m, nn.GroupNorm)]) == 4


@pytest.mark.parametrize('scale', [1, 2, 3])
def test_output_shape(scale):
    head = FLAHead(
        in_channels=16, channels=8, num_classes=3, upsample_scale=scale, norm_cfg=BN)
    x = torch.randn(2, 16, 5, 7)
    assert head([torch.randn(2, 4, 9, 9), x]).shape == (2, 3, 5 * scale, 7 * scale)


@pytest.mark.parametrize('align_corners', [False, True])
def test_bilinear_upsample_follows_align_corners(align_corners):
    torch.manual_seed(0)
    head = FLAHead(
        in_channels=6, channels=4, num_classes=3, upsample_mode='bilinear',
        align_corners=align_corners, norm_cfg=BN).eval()
    with torch.no_grad():
        head.fla.gamma.fill_(0.5)
    x = torch.randn(2, 6, 5, 7)
    feat = torch.cat([x, head.fla(head.reduce(x))], dim=1)
    up = F.interpolate(feat, scale_factor=2, mode='bilinear', align_corners=align_corners)
    expected = head.conv_seg(head.bottleneck(up))
    torch.testing.assert_close(head([x]), expected)
    head.upsample_mode = 'nearest'
    assert not torch.allclose(head([x]), expected)


def test_resize_concat_inputs():
    # HRNet-style: four branches resized to the first and concatenated
    head = FLAHead(
        in_channels=[4, 6, 8, 10], in_index=(0, 1, 2, 3), input_transform='resize_concat',
        channels=8, num_classes=3, upsample_scale=1, norm_cfg=BN)
    assert head.in_channels == 28
    assert head.bottleneck.conv.in_channels == 28 + 8
    inputs = [
        torch.randn(2, c, 9 // s + 1, 11 // s + 1)
        for c, s in zip([4, 6, 8, 10], [1, 2, 4, 8])
    ]
    assert head(inputs).shape == (2, 3, 10, 12)


def test_loss_and_predict():
    torch.manual_seed(0)
    head = FLAHead(in_channels=8, channels=4, num_classes=3, norm_cfg=BN)
    x = torch.randn(2, 8, 5, 6)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 40, 48)))
        s.set_metainfo(dict(img_shape=(40, 48), pad_shape=(40, 48), ori_shape=(40, 48)))
        samples.append(s)
    losses = head.loss([x], samples, dict())
    assert set(losses) == {'loss_ce', 'acc_seg'}
    losses['loss_ce'].backward()
    assert head.fla.gamma.grad is not None and head.fla.gamma.grad.abs() > 0
    assert head.conv_seg.weight.grad.abs().sum() > 0
    head.eval()
    seg = head.predict([x], [s.metainfo for s in samples], dict())
    assert seg.shape == (2, 3, 40, 48)


def test_bad_arguments():
    kwargs = dict(in_channels=8, channels=4, num_classes=3, norm_cfg=BN)
    with pytest.raises(ValueError, match='upsample_scale'):
        FLAHead(upsample_scale=0, **kwargs)
    with pytest.raises(TypeError, match='upsample_scale'):
        FLAHead(upsample_scale=1.5, **kwargs)
    with pytest.raises(TypeError, match='upsample_scale'):
        FLAHead(upsample_scale=True, **kwargs)
    with pytest.raises(ValueError, match='upsample_mode'):
        FLAHead(upsample_mode='linear', **kwargs)
    with pytest.raises(TypeError, match='fla_cfg'):
        FLAHead(fla_cfg='chunk_size=2', **kwargs)
