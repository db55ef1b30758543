# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Every config under configs/attention builds its model and trains a step."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg
from tests.utils import (
    check_metafile,
    pretrained_checkpoints,
    repo_configs,
    seg_batch,
    toy_config,
    train_and_test,
)

CONFIG_DIR, CONFIGS = repo_configs('attention')

register_all_modules()


def _expected_parts(name):
    """Which attention part a config name promises."""
    if '-iaff' in name:
        return 'iAFF'
    if '-aff' in name:
        return 'AFF'
    if '-cbam' in name:
        return 'CBAM'
    if '-se' in name:
        return 'SqueezeExcitation'
    raise AssertionError(f'{name} names no attention part')


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    for alg in ('fcn_r50-d8', 'pspnet_r50-d8', 'deeplabv3plus_r50-d8', 'upernet_r50'):
        for part in ('se', 'cbam'):
            assert f'{alg}-{part}_4xb2-80k_cityscapes-512x1024.py' in names
            assert f'{alg}-{part}_4xb4-80k_ade20k-512x512.py' in names
    assert 'fpn_r50-aff_4xb2-80k_cityscapes-512x1024.py' in names
    assert 'fpn_r50-aff_4xb4-160k_ade20k-512x512.py' in names
    assert any(n.startswith('bisenet_r18') and '-cbam' in n for n in names)


def test_readme_and_metafile_cover_every_config():
    check_metafile(CONFIG_DIR, CONFIGS)
    with open(osp.join(CONFIG_DIR, 'README.md')) as f:
        readme = f.read()
    table = readme.split('<!-- cost-table:begin')[1].split('<!-- cost-table:end')[0]
    rows = [line.split('|')[1].strip() for line in table.splitlines() if line.startswith('| ')]
    assert sorted(rows[1:]) == sorted(osp.basename(p)[:-3] for p in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_builds_and_runs(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmseg_attn'], allow_failed_imports=False)
    checkpoints = pretrained_checkpoints(cfg.model)
    assert checkpoints and all(c.startswith(('open-mmlab://', 'https://')) for c in checkpoints)

    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    assert not pretrained_checkpoints(cfg.model)
    model = MODELS.build(cfg.model)
    part = _expected_parts(osp.basename(path))
    assert any(type(m).__name__ == part for m in model.modules()), part

    num_classes = cfg.model.decode_head.num_classes
    inputs, samples = seg_batch(num_classes)
    model.train()
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total.requires_grad
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    assert preds[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert int(preds[0].pred_sem_seg.data.max()) < num_classes


def test_train_and_test_with_mmseg_tools(toy_cityscapes, tmp_path):
    config = osp.join(CONFIG_DIR, 'fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py')
    cfg = toy_config(config, toy_cityscapes, tmp_path, dataset='cityscapes', max_iters=10)
    env = dict(OMP_NUM_THREADS='1')  # R-18 on a busy 2-core machine
    ckpt, _ = train_and_test(cfg, tmp_path, env=env)
    state = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')['state_dict']
    assert any('.cbam.' in k for k in state)
