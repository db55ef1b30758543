# Copyright (c) mmseg_attn contributors. All rights reserved.
"""mmseg's BiSeNetV1 -> converter (mmseg_attn.models.utils.bisenetv1_converter and
tools/model_converters/bisenetv1_mmseg2attn.py) -> mmseg_attn's mmseg-variant BiSeNet:
same logits."""
import os.path as osp
import subprocess
import sys

import mmseg
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.models.utils import bisenetv1_converter
from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg
from tests.utils import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'bisenetv1_mmseg2attn.py')
OURS = osp.join(REPO_ROOT, 'configs', 'bisenet',
                'bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
MMSEG_CONFIGS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')
MMSEG = osp.join(MMSEG_CONFIGS, 'bisenetv1',
                 'bisenetv1_r18-d32_4xb4-160k_cityscapes-1024x1024.py')
MMSEG_PRE = osp.join(MMSEG_CONFIGS, 'bisenetv1',
                     'bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')

register_all_modules()


def _build(config):
    cfg = Config.fromfile(config)
    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    return MODELS.build(cfg.model)


def _randomize(model, seed=0):
    """Random norm weights and statistics, so that any misplaced tensor shows."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope='module')
def mmseg_model():
    return _randomize(_build(MMSEG)).eval()


def _max_diff(a, b):
    return (a - b).abs().max().item()


def test_mmseg_configs_share_one_layout():
    """The scratch and the in1k-pre mmseg configs have the same parameters."""
    a, b = _build(MMSEG), _build(MMSEG_PRE)
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}


def test_parity_with_mmseg(mmseg_model):
    ours = _build(OURS).eval()
    converted = bisenetv1_converter(mmseg_model.state_dict())
    result = ours.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(converted) == len(mmseg_model.state_dict())

    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        feats_theirs = mmseg_model.extract_feat(inputs)
        feats_ours = ours.extract_feat(inputs)
        assert len(feats_theirs) == len(feats_ours) == 3
        for a, b in zip(feats_theirs, feats_ours):
            assert a.shape == b.shape
            assert _max_diff(a, b) <= 1e-5
        metas = [dict(img_shape=(64, 96), pad_shape=(64, 96))] * 2
        logits_theirs = mmseg_model.encode_decode(inputs, metas)
        logits_ours = ours.encode_decode(inputs, metas)
        assert logits_ours.shape == (2, 19, 64, 96)
        assert _max_diff(logits_theirs, logits_ours) <= 1e-5
        assert logits_ours.std() > 1e-3  # a real signal, not a constant
        for head_theirs, head_ours in zip(mmseg_model.auxiliary_head, ours.auxiliary_head):
            assert _max_diff(head_theirs(feats_theirs), head_ours(feats_ours)) <= 1e-5


def test_cli_round_trip(mmseg_model, tmp_path):
    src, dst = tmp_path / 'mmseg.pth', tmp_path / 'ours.pth'
    meta = dict(dataset_meta=dict(classes=('a', 'b')), mmseg_version='1.2.2')
    torch.save(dict(meta=meta, state_dict=mmseg_model.state_dict()), src)
    result = subprocess.run([sys.executable, TOOL, str(src), str(dst)], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['dataset_meta'] == meta['dataset_meta']
    assert checkpoint['meta']['converted_from'] == 'mmseg BiSeNetV1'
    ours = _build(OURS)
    ours.load_state_dict(checkpoint['state_dict'], strict=True)
    key = 'neck.ffm.conv1.conv.weight'
    assert torch.equal(ours.state_dict()[key],
                       mmseg_model.state_dict()['backbone.ffm.conv1.conv.weight'])


def test_module_prefix_is_removed(mmseg_model):
    wrapped = {'module.' + k: v for k, v in mmseg_model.state_dict().items()}
    assert list(bisenetv1_converter(wrapped)) == list(bisenetv1_converter(mmseg_model.state_dict()))


def test_other_model_is_refused():
    fcn = Config.fromfile(osp.join(MMSEG_CONFIGS, '_base_', 'models', 'fcn_r50-d8.py'))
    convert_sync_bn_cfg(fcn.model)
    state_dict = MODELS.build(fcn.model).state_dict()
    with pytest.raises(ValueError) as info:
        bisenetv1_converter(state_dict)
    message = str(info.value)
    assert "mmseg's BiSeNetV1" in message
    assert 'backbone.context_path.backbone.' in message  # what was expected
    assert 'backbone.layer1' in message  # what was found


def test_converted_checkpoint_is_refused(mmseg_model):
    converted = bisenetv1_converter(mmseg_model.state_dict())
    with pytest.raises(ValueError, match='already converted'):
        bisenetv1_converter(converted)


def test_unknown_keys_are_refused(mmseg_model):
    state_dict = dict(mmseg_model.state_dict())
    state_dict['backbone.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='backbone.extra.weight'):
        bisenetv1_converter(state_dict)


def test_cli_error_on_other_checkpoint(tmp_path):
    src = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}), src)
    result = subprocess.run([sys.executable, TOOL, str(src), str(tmp_path / 'out.pth')],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "not a checkpoint of mmseg's BiSeNetV1" in result.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_no_plain_batchnorm_with_syncbn_config():
    """mmseg's BiSeNetV1 keeps BN in ARM/FFM/spatial path; ours follows the config."""
    cfg = Config.fromfile(OURS)
    drop_pretrained_cfg(cfg.model)
    ours = MODELS.build(cfg.model)
    assert not any(type(m) is nn.BatchNorm2d for m in ours.modules())
    assert any(isinstance(m, nn.SyncBatchNorm) for m in ours.neck.ffm.modules())
    cfg = Config.fromfile(MMSEG)
    theirs = MODELS.build(cfg.model)
    assert any(type(m) is nn.BatchNorm2d for m in theirs.backbone.ffm.modules())
