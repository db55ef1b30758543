"""mmseg_attn.apis.inference: configs by path or package name, segmentor, random batch."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmseg_attn.apis as apis
from mmseg_attn.apis import build_segmentor, random_batch
from mmseg_attn.utils import load_config
from tests.utils import REPO_ROOT

TINY = osp.join(REPO_ROOT, 'tests', 'data', 'attention_vis_bisenet_tiny.py')


def test_load_config_resolves_package_names():
    import mmseg
    cfg = load_config('mmseg::_base_/models/bisenetv1_r18-d32.py')
    expected = Config.fromfile(osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs',
                                        '_base_', 'models', 'bisenetv1_r18-d32.py'))
    assert cfg.model.to_dict() == expected.model.to_dict()
    assert load_config(cfg) is cfg
    assert load_config(TINY).model.type == Config.fromfile(TINY).model.type
    with pytest.raises(TypeError, match='config'):
        load_config(3)


def test_build_segmentor_and_random_batch():
    model = build_segmentor(TINY)
    assert not model.training and model.cfg.model.train_cfg is None
    inputs, samples = random_batch((32, 48), batch_size=2)
    assert inputs.shape == (2, 3, 32, 48) and len(samples) == 2
    assert samples[0].metainfo['img_shape'] == (32, 48)
    with torch.no_grad():
        out = model(inputs, mode='tensor')
    assert out.shape[0] == 2


def test_measurement_lives_in_analysis_only():
    """The package is unreleased: the names that moved to analysis have no shim."""
    from mmseg_attn import analysis
    for name in ('time_inference', 'count_flops', 'module_costs'):
        assert hasattr(analysis, name) and not hasattr(apis, name)
