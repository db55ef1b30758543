# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Every config under configs/flanet loads, builds its model and runs it.

The backbone configs of all R-101-D8 (all HRNet-W48) configs are checked to
be identical; the full model of one config per backbone runs ``loss`` and
``predict`` on a 1x3x64x64 image. Every other config is built in full too,
then runs ``loss`` and ``predict`` with its backbone swapped for a cheap
stand-in that returns features of the same channels and strides, so its
own heads, data preprocessor and test mode are exercised without running
a 60M-parameter backbone nine times.
"""
import copy
import functools
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.models.decode_heads import FLAHead
from mmseg_attn.models.layers import FullyAttentionalBlock
from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg
from tests.utils import NUM_CLASSES, config_dataset, repo_configs, seg_batch

CONFIG_DIR, CONFIGS = repo_configs('flanet')
NAMES = [osp.basename(p)[:-3] for p in CONFIGS]
# one config per backbone runs its full model
REFERENCE = {
    'r101': 'flanet_r101-d8_4xb2-80k_cityscapes-512x1024',
    'hr48': 'flanet_hr48_4xb2-80k_cityscapes-512x1024',
}
PRETRAINED = {'r101': 'open-mmlab://resnet101_v1c', 'hr48': 'open-mmlab://msra_hrnetv2_w48'}

register_all_modules()


def _backbone_key(name):
    return 'r101' if name.startswith('flanet_r101') else 'hr48'


@functools.lru_cache(maxsize=None)
def _load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))


def _model_cfg(name):
    cfg = copy.deepcopy(_load(name).model)
    convert_sync_bn_cfg(cfg)
    drop_pretrained_cfg(cfg)
    return cfg


def _aux_heads(cfg):
    aux = cfg.model.get('auxiliary_head')
    if aux is None:
        return []
    return list(aux) if isinstance(aux, (list, tuple)) else [aux]


def _run(model, num_classes, backward=False):
    """``loss`` (optionally with backward) and ``predict`` on one 64x64 image."""
    inputs, samples = seg_batch(num_classes, batch=1)
    model.train()
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    if backward:
        total.backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    seg = preds[0].pred_sem_seg.data
    assert seg.shape == (1, 64, 64)
    assert 0 <= int(seg.min()) and int(seg.max()) < num_classes
    assert preds[0].seg_logits.data.shape == (num_classes, 64, 64)
    return losses


class StandInBackbone(nn.Module):
    """Features of given channels and strides from pooled pixels and 1x1 convs."""

    def __init__(self, channels, strides):
        super().__init__()
        self.strides = strides
        self.projs = nn.ModuleList(nn.Conv2d(3, c, 1) for c in channels)

    def forward(self, x):
        return [proj(F.avg_pool2d(x, s)) for proj, s in zip(self.projs, self.strides)]


def test_configs_found():
    expected = {
        f'flanet_{b}_{s}'
        for b in ('r101-d8', 'hr48') for s in (
            '4xb2-80k_cityscapes-512x1024', '4xb2-80k_cityscapes-769x769',
            '4xb4-160k_ade20k-512x512', '4xb4-40k_voc12aug-512x512')
    }
    expected.add('flanet_r101-d8-fcnaux_4xb2-80k_cityscapes-512x1024')
    assert set(NAMES) == expected


@pytest.mark.parametrize('name', NAMES)
def test_config_contents(name):
    cfg = _load(name)
    key, dataset = _backbone_key(name), config_dataset(name)
    num_classes = NUM_CLASSES[dataset]
    assert cfg.custom_imports == dict(imports=['mmseg_attn'], allow_failed_imports=False)
    assert cfg.model.pretrained == PRETRAINED[key]
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'

    crop = tuple(int(v) for v in name.rsplit('-', 1)[1].split('x'))
    assert tuple(cfg.crop_size) == crop
    assert tuple(cfg.model.data_preprocessor.size) == crop
    crops = [t.crop_size for t in cfg.train_pipeline if t.type == 'RandomCrop']
    assert [tuple(c) for c in crops] == [crop]
    iters = int(name.split('-')[-2].split('_')[0].rstrip('k')) * 1000
    assert cfg.train_cfg.max_iters == iters

    head = cfg.model.decode_head
    assert head.type == 'FLAHead' and head.channels == 512
    heads = [head] + _aux_heads(cfg)
    assert {h.num_classes for h in heads} == {num_classes}
    # bilinear resizing: align_corners=True for the odd 769 crops (as mmseg does)
    assert {h.align_corners for h in heads} == {crop == (769, 769)}
    if crop == (769, 769):
        assert cfg.model.test_cfg == dict(mode='slide', crop_size=crop, stride=(513, 513))
    else:
        assert cfg.model.test_cfg.mode == 'whole'

    if key == 'r101':
        bb = cfg.model.backbone
        assert bb.type == 'ResNetV1c' and bb.depth == 101
        assert tuple(bb.strides) == (1, 2, 1, 1) and tuple(bb.dilations) == (1, 1, 2, 4)
        assert head.in_channels == 2048 and head.in_index == 3
        assert head.upsample_scale == 2 and head.upsample_mode == 'nearest'
        aux = _aux_heads(cfg)
        assert all(a.type == 'FCNHead' for a in aux)
        if '-fcnaux' in name:  # mmseg's usual single stage-3 auxiliary head
            assert [(a.in_index, a.in_channels, a.channels) for a in aux] == [(2, 1024, 256)]
        else:  # the official two auxiliary outputs: stage 2 and stage 3 to 64 channels
            assert [(a.in_index, a.in_channels, a.channels) for a in aux] == [(1, 512, 64),
                                                                              (2, 1024, 64)]
            assert all(a.kernel_size == 3 and a.num_convs == 1 and not a.concat_input
                       for a in aux)
    else:
        bb = cfg.model.backbone
        assert bb.type == 'HRNet'
        assert bb.extra.stage4.num_channels == (48, 96, 192, 384)
        assert head.input_transform == 'resize_concat'
        assert list(head.in_channels) == [48, 96, 192, 384]
        assert tuple(head.in_index) == (0, 1, 2, 3)
        assert head.upsample_scale == 1
        assert not _aux_heads(cfg)


@pytest.mark.parametrize('key', sorted(REFERENCE))
def test_backbones_identical_across_configs(key):
    names = [n for n in NAMES if _backbone_key(n) == key]
    assert len(names) >= 4
    reference = _load(REFERENCE[key]).model.backbone.to_dict()
    for name in names:
        assert _load(name).model.backbone.to_dict() == reference, name


@functools.lru_cache(maxsize=None)
def _full_reference(key):
    """Build and run the full model of the reference config of a backbone, once.

    Returns:
        tuple: The model, its losses, and the channels and strides of its
        backbone outputs.
    """
    name = REFERENCE[key]
    model = MODELS.build(_model_cfg(name))
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 64, 64))
    shapes = ([f.shape[1] for f in feats], [64 // f.shape[-1] for f in feats])
    losses = _run(model, NUM_CLASSES[config_dataset(name)], backward=True)
    return model, losses, shapes


@pytest.mark.parametrize('key', sorted(REFERENCE))
def test_reference_config_full_model(key):
    model, losses, (channels, strides) = _full_reference(key)
    assert isinstance(model.decode_head, FLAHead)
    assert isinstance(model.decode_head.fla, FullyAttentionalBlock)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    if key == 'r101':
        assert type(model.backbone).__name__ == 'ResNetV1c'
        assert (channels, strides) == ([256, 512, 1024, 2048], [4, 8, 8, 8])
    else:
        assert type(model.backbone).__name__ == 'HRNet'
        assert (channels, strides) == ([48, 96, 192, 384], [4, 8, 16, 32])
    expected = {'decode.loss_ce', 'decode.acc_seg'}
    if key == 'r101':
        expected |= {'aux_0.loss_ce', 'aux_0.acc_seg', 'aux_1.loss_ce', 'aux_1.acc_seg'}
    assert set(losses) == expected
    assert model.decode_head.fla.gamma.grad is not None
    first_conv = next(m for m in model.backbone.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('name', NAMES)
def test_config_builds_and_runs(name):
    model = MODELS.build(_model_cfg(name))
    assert isinstance(model.decode_head, FLAHead)
    num_classes = NUM_CLASSES[config_dataset(name)]
    assert model.decode_head.conv_seg.out_channels == num_classes
    assert all(a.conv_seg.out_channels == num_classes for a in _aux_modules(model))
    key = _backbone_key(name)
    if name == REFERENCE[key]:
        return  # its full model runs in test_reference_config_full_model
    channels, strides = _full_reference(key)[2]
    model.backbone = StandInBackbone(channels, strides)
    _run(model, num_classes)


def _aux_modules(model):
    if not model.with_auxiliary_head:
        return []
    aux = model.auxiliary_head
    return list(aux) if isinstance(aux, nn.ModuleList) else [aux]
