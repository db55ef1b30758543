# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Every config under configs/bisenet builds, trains a step and predicts."""
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg
from tests.utils import (
    NUM_CLASSES,
    REPO_ROOT,
    check_metafile,
    config_dataset,
    pretrained_checkpoints,
    repo_configs,
    seg_batch,
    toy_config,
    train_and_test,
)

CONFIG_DIR, CONFIGS = repo_configs('bisenet')
IDS = [osp.basename(p) for p in CONFIGS]
DATASET_TYPES = {
    'cityscapes': 'CityscapesDataset',
    'ade20k': 'ADE20KDataset',
    'voc12aug': 'PascalVOCDataset'
}

register_all_modules()


def _batch(num_classes, size=(64, 64), batch=2):
    """A data batch as the dataloader gives it to the data preprocessor."""
    inputs, samples = seg_batch(num_classes, size, batch)
    return dict(inputs=list(inputs.to(torch.uint8)), data_samples=samples)


def test_config_set():
    names = set(IDS)
    for depth in (18, 50, 101):
        for suffix in ('4xb4-160k_cityscapes-1024x1024', '4xb4-160k_ade20k-512x512',
                       '4xb4-40k_voc12aug-512x512'):
            assert f'bisenet_r{depth}-d32-in1k-pre_{suffix}.py' in names
    assert 'bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py' in names
    assert len(names) == 10


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_settings(path):
    name = osp.basename(path)
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmseg_attn'], allow_failed_imports=False)
    depth = int(re.search(r'_r(\d+)-', name).group(1))
    assert pretrained_checkpoints(cfg.model) == [f'open-mmlab://resnet{depth}_v1c']
    assert cfg.model.backbone.context_backbone.depth == depth
    dataset = config_dataset(name)
    assert cfg.train_dataloader.batch_size == 4
    train_set = cfg.train_dataloader.dataset
    leaves = train_set.get('datasets', [train_set])  # VOC aug is a ConcatDataset
    assert {d.type for d in leaves} == {DATASET_TYPES[dataset]}
    assert cfg.test_dataloader.dataset.type == DATASET_TYPES[dataset]
    crop = (1024, 1024) if dataset == 'cityscapes' else (512, 512)
    assert tuple(cfg.model.data_preprocessor.size) == crop
    iters = 40000 if dataset == 'voc12aug' else 160000
    assert cfg.train_cfg.max_iters == iters
    assert cfg.param_scheduler[-1].end == iters
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.optim_wrapper.optimizer.weight_decay == 5e-4
    heads = [cfg.model.decode_head, *cfg.model.auxiliary_head]
    assert [h.num_classes for h in heads] == [NUM_CLASSES[dataset]] * 3
    norms = list(_norm_types(cfg.model))
    assert norms and set(norms) == {'SyncBN'}


def _norm_types(node):
    if isinstance(node, dict):
        if 'norm_cfg' in node and node['norm_cfg'] is not None:
            yield node['norm_cfg']['type']
        for value in node.values():
            yield from _norm_types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _norm_types(value)


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_builds_trains_and_predicts(path):
    cfg = Config.fromfile(path)
    dataset = config_dataset(osp.basename(path))
    # as configured (SyncBN): no plain BatchNorm2d anywhere
    drop_pretrained_cfg(cfg.model)
    cfg.model.data_preprocessor.size = (64, 64)
    model = MODELS.build(cfg.model)
    assert not any(type(m) is nn.BatchNorm2d for m in model.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.neck.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.backbone.spatial_path.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.backbone.context_backbone.modules())

    # SyncBN needs CUDA and a process group: run the step with BN
    model = revert_sync_batchnorm(model)
    model.train()
    data = model.data_preprocessor(_batch(NUM_CLASSES[dataset]), True)
    losses = model.loss(**data)
    assert {'decode.loss_ce', 'aux_0.loss_ce', 'aux_1.loss_ce'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.neck.ffm.conv1.conv.weight.grad is not None
    assert model.backbone.spatial_path.layer1.conv.weight.grad is not None

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(NUM_CLASSES[dataset], size=(61, 75), batch=1))
        results = model.predict(**data)
    assert results[0].pred_sem_seg.data.shape == (1, 61, 75)
    assert results[0].seg_logits.data.shape == (NUM_CLASSES[dataset], 61, 75)


def _set_norm(node, norm_cfg):
    if isinstance(node, dict):
        if node.get('norm_cfg') is not None:
            node['norm_cfg'] = dict(norm_cfg)
        for value in node.values():
            _set_norm(value, norm_cfg)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_norm(value, norm_cfg)


@pytest.mark.parametrize('preset', ['bisenet-paper_r18-d32.py', 'bisenet-mmseg_r18-d32.py'])
def test_group_norm_reaches_every_layer(preset):
    """A norm_cfg in the config replaces every norm layer, ARM/FFM/spatial path included."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', preset))
    _set_norm(cfg.model, dict(type='GN', num_groups=8, requires_grad=True))
    cfg.model.data_preprocessor.size = (64, 64)
    model = MODELS.build(cfg.model)
    norms = [m for m in model.modules()
             if isinstance(m, (nn.GroupNorm, nn.modules.batchnorm._BatchNorm))]
    assert norms and all(isinstance(m, nn.GroupNorm) for m in norms)
    model.train()
    data = model.data_preprocessor(_batch(19, batch=1), True)  # GN trains with batch 1
    losses = model.loss(**data)
    assert torch.isfinite(losses['decode.loss_ce'])


class _SeedConvBlock(nn.Module):
    """``ConvBlock`` of the paper's reference code (seed article)."""

    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv1(x)))


class _SeedBiSeNet(nn.Module):
    """The reference code's BiSeNet (ResNet-18), written as the seed article has it.

    The ResNet-18 context path is passed in, so that only BiSeNet's own parts
    are compared.
    """

    def __init__(self, context_path, num_classes):
        super().__init__()
        self.context_path = context_path
        self.spatial_path = nn.Sequential(
            _SeedConvBlock(3, 64), _SeedConvBlock(64, 128), _SeedConvBlock(128, 256))
        self.arm1 = nn.Conv2d(256, 256, 1)  # ARM: pooled 1x1 conv, sigmoid
        self.arm2 = nn.Conv2d(512, 512, 1)
        self.supervision1 = nn.Conv2d(256, num_classes, 1)
        self.supervision2 = nn.Conv2d(512, num_classes, 1)
        self.ffm_convblock = _SeedConvBlock(1024, 256, stride=1)
        self.ffm_conv1 = nn.Conv2d(256, 256, 1)
        self.ffm_conv2 = nn.Conv2d(256, 256, 1)
        # the reference code's FFM has num_classes channels and is followed by
        # a 1x1 classifier; the preset's FFM has 256 channels, so this one maps
        # 256 -> num_classes
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def forward(self, x):
        sx = self.spatial_path(x)
        _, _, feature3, feature4 = self.context_path(x)
        tail = torch.mean(torch.mean(feature4, 3, keepdim=True), 2, keepdim=True)
        cx1 = feature3 * torch.sigmoid(self.arm1(F.adaptive_avg_pool2d(feature3, 1)))
        cx2 = feature4 * torch.sigmoid(self.arm2(F.adaptive_avg_pool2d(feature4, 1)))
        cx2 = torch.mul(cx2, tail)
        cx1 = F.interpolate(cx1, size=sx.size()[-2:], mode='bilinear')
        cx2 = F.interpolate(cx2, size=sx.size()[-2:], mode='bilinear')
        cx = torch.cat((cx1, cx2), dim=1)
        cx1_sup = F.interpolate(self.supervision1(cx1), size=x.size()[-2:], mode='bilinear')
        cx2_sup = F.interpolate(self.supervision2(cx2), size=x.size()[-2:], mode='bilinear')
        feature = self.ffm_convblock(torch.cat((sx, cx), dim=1))
        att = F.relu(self.ffm_conv1(F.adaptive_avg_pool2d(feature, 1)))
        att = torch.sigmoid(self.ffm_conv2(att))
        fused = torch.add(torch.mul(feature, att), feature)
        result = F.interpolate(self.classifier(fused), scale_factor=8, mode='bilinear')
        return result, cx1_sup, cx2_sup


def test_paper_preset_equals_reference_code():
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py'))
    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    ours = MODELS.build(cfg.model)
    torch.manual_seed(0)
    for m in ours.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    seed = _SeedBiSeNet(ours.backbone.context_backbone, num_classes=19)
    seed.classifier = ours.decode_head.conv_seg
    sp, neck = ours.backbone.spatial_path, ours.neck
    for i in range(3):
        seed.spatial_path[i].conv1 = sp[i].conv
        seed.spatial_path[i].bn = sp[i].bn
    seed.arm1 = neck.arm16.atten_conv_layer[1].conv
    seed.arm2 = neck.arm32.atten_conv_layer[1].conv
    seed.ffm_convblock.conv1, seed.ffm_convblock.bn = neck.ffm.conv1.conv, neck.ffm.conv1.bn
    seed.ffm_conv1 = neck.ffm.conv_atten[0].conv
    seed.ffm_conv2 = neck.ffm.conv_atten[1].conv
    seed.supervision1 = ours.auxiliary_head[0].conv_seg
    seed.supervision2 = ours.auxiliary_head[1].conv_seg
    ours.eval()
    seed.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        result, cx1_sup, cx2_sup = seed(x)
        logits = ours.encode_decode(x, [dict(img_shape=(64, 96), pad_shape=(64, 96))] * 2)
        feats = ours.extract_feat(x)
        aux = [resize(head(feats), size=(64, 96), mode='bilinear', align_corners=False)
               for head in ours.auxiliary_head]
    assert result.shape == logits.shape == (2, 19, 64, 96)
    # a 1x1 conv commutes with bilinear upsampling (its weights sum to one)
    assert (result - logits).abs().max() <= 1e-5
    assert (cx1_sup - aux[0]).abs().max() <= 1e-5
    assert (cx2_sup - aux[1]).abs().max() <= 1e-5


def test_metafile_and_readme():
    models = check_metafile(CONFIG_DIR, CONFIGS)['Models']
    for model in models:
        assert osp.isfile(osp.join(REPO_ROOT, model['Config']))
        assert 'Metadata' in model and 'Results' in model
        result = model['Results']
        assert {'Task', 'Dataset', 'Metrics'} <= set(result)
        assert result['Dataset'].split()[0] in model['Metadata']['Training Data']
        # every number is a reference result from elsewhere, marked as such
        assert 'not reproduced' in result['Source']
        if result['Metrics']:
            assert result['Source'].startswith('reference')
    with open(osp.join(CONFIG_DIR, 'README.md')) as f:
        readme = f.read()
    for path in CONFIGS:
        assert osp.basename(path)[:-3] in readme
    assert 'bisenetv1_mmseg2attn.py' in readme


E2E = [
    ('toy_cityscapes', 'cityscapes',
     'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py'),
    ('toy_ade20k', 'ade20k', 'bisenet_r18-d32-in1k-pre_4xb4-160k_ade20k-512x512.py'),
    ('toy_voc', 'voc', 'bisenet_r18-d32-in1k-pre_4xb4-40k_voc12aug-512x512.py'),
]


@pytest.mark.parametrize('fixture,layout,config', E2E, ids=[e[1] for e in E2E])
def test_mmseg_tools_train_and_test(fixture, layout, config, tmp_path, request):
    data_root = request.getfixturevalue(fixture)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    cfg = toy_config(cfg, data_root, tmp_path, dataset=layout, crop_size=(64, 64))
    # tools/test.py once; every training ends with mmseg's validation (an mIoU)
    checkpoint, out = train_and_test(cfg, tmp_path, test=layout == 'cityscapes')
    assert osp.isfile(checkpoint) and 'mIoU' in out
