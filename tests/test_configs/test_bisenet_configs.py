# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Every config under configs/bisenet builds, trains a step and predicts."""
import glob
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.utils import drop_pretrained_cfg
from tests.utils import last_checkpoint, run_mmseg_tool, toy_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'bisenet')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
IDS = [osp.basename(p) for p in CONFIGS]
NUM_CLASSES = {'cityscapes': 19, 'ade20k': 150, 'voc12aug': 21}
DATASET_TYPES = {
    'cityscapes': 'CityscapesDataset',
    'ade20k': 'ADE20KDataset',
    'voc12aug': 'PascalVOCDataset'
}

register_all_modules()


def _dataset(name):
    return next(d for d in NUM_CLASSES if f'_{d}-' in name)


def _pretrained(cfg):
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained':
                found.append(node['checkpoint'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg)
    return found


def _batch(num_classes, size=(64, 64), batch=2):
    torch.manual_seed(0)
    inputs = [torch.randint(0, 255, (3, ) + size, dtype=torch.uint8) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, ) + size))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


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
    assert _pretrained(cfg.model) == [f'open-mmlab://resnet{depth}_v1c']
    assert cfg.model.backbone.context_backbone.depth == depth
    dataset = _dataset(name)
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
    dataset = _dataset(osp.basename(path))
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


def test_metafile_and_readme():
    meta = load(osp.join(CONFIG_DIR, 'metafile.yaml'))
    models = meta['Models']
    listed = {m['Config'] for m in models}
    assert listed == {osp.relpath(p, REPO_ROOT) for p in CONFIGS}
    collections = {c['Name'] for c in meta['Collections']}
    for model in models:
        assert model['In Collection'] in collections
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


def _shrink_pad(node, size):
    """Pad to the toy crop size: mmseg's VOC pipeline pads every crop to 512 x 512."""
    if isinstance(node, dict):
        if node.get('type') == 'Pad' and 'size' in node:
            node['size'] = size
        for value in node.values():
            _shrink_pad(value, size)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _shrink_pad(value, size)


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
    _shrink_pad(cfg.train_dataloader, (64, 64))
    cfg = toy_config(cfg, data_root, tmp_path, dataset=layout, crop_size=(64, 64))
    run_mmseg_tool('train', cfg, '--work-dir', str(tmp_path))
    checkpoint = last_checkpoint(tmp_path)
    assert osp.isfile(checkpoint)
    out = run_mmseg_tool('test', cfg, checkpoint, '--work-dir', str(tmp_path))
    assert 'mIoU' in out.stdout
