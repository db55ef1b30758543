# Copyright (c) mmseg_attn contributors. All rights reserved.
"""mmseg's own tools train and evaluate FLANet configs on the toy datasets.

The configs are the real ones with a shrunk backbone (ResNetV1c-18 with the
same strides and dilations instead of R-101; a one-block-per-stage HRNet
instead of W48) and narrow heads; the FLA head itself is the real one.
"""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

from tests.utils import REPO_ROOT, toy_config, train_and_test

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'flanet')
CROP = (64, 64)
# one thread: on a small shared machine OpenMP threads that wait for each
# other make a step of these tiny models many times slower
ENV = {'OMP_NUM_THREADS': '1'}

TINY_HRNET = dict(
    stage1=dict(
        num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ), num_channels=(8, )),
    stage2=dict(
        num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(8, 16)),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(1, 1, 1),
        num_channels=(8, 16, 32)),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(1, 1, 1, 1),
        num_channels=(8, 16, 32, 64)))


def _shrunk(name):
    """The real config with a small backbone and narrow heads."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    model = cfg.model
    if model.backbone.type == 'ResNetV1c':
        model.backbone.depth = 18  # BasicBlock stages: 64, 128, 256, 512 channels
        model.decode_head.update(in_channels=512, channels=32)
        for aux, channels in zip(model.auxiliary_head, (128, 256)):
            aux.update(in_channels=channels, channels=16)
    else:
        model.backbone.extra = TINY_HRNET
        model.decode_head.update(in_channels=[8, 16, 32, 64], channels=16)
    return cfg


# tools/test.py (checkpoint loading + evaluation) runs once; every training
# run ends with mmseg's own validation of the trained model
@pytest.mark.parametrize(
    'name, dataset, fixture, run_test',
    [
        ('flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py', 'cityscapes', 'toy_cityscapes', True),
        ('flanet_hr48_4xb4-160k_ade20k-512x512.py', 'ade20k', 'toy_ade20k', False),
        ('flanet_r101-d8_4xb4-40k_voc12aug-512x512.py', 'voc', 'toy_voc', False),
    ],
    ids=['cityscapes-r101', 'ade20k-hr48', 'voc12aug-r101'])
def test_train_and_evaluate_with_mmseg_tools(name, dataset, fixture, run_test, request,
                                             tmp_path):
    data_root = request.getfixturevalue(fixture)
    cfg = toy_config(
        _shrunk(name), data_root, tmp_path, dataset=dataset, max_iters=10, crop_size=CROP)
    dumped = Config.fromfile(cfg)
    assert dumped.model.decode_head.type == 'FLAHead'

    ckpt, out = train_and_test(cfg, tmp_path, env=ENV, test=run_test)
    assert 'mIoU' in out  # the validation at the end of training
    assert osp.basename(ckpt) == 'iter_10.pth'
    state = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')['state_dict']
    assert 'decode_head.fla.conv1.weight' in state
    # the FLA branch was trained: its residual weight left its zero init
    assert float(state['decode_head.fla.gamma'].abs()) > 0
