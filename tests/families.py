# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Tiny segmentors of every model family, shared by the deployment tests and
the tests of tools/deployment.

Each family is a config under ``tests/data/`` that inherits the real config
of the family and shrinks its widths and depths. Models are built once per
process, with PyTorch's initialisation and random BN statistics (fresh BN
layers are the identity in eval mode, which would hide a wrong fusion or
export).
"""
import os.path as osp

import torch

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.apis import build_segmentor
from mmseg_attn.testing import randomize_norms
from tests.utils import REPO_ROOT

FAMILIES = {
    'bisenet_paper': 'tests/data/deploy_bisenet_paper_tiny.py',
    'bisenet_mmseg': 'tests/data/deploy_bisenet_mmseg_tiny.py',
    'flanet_resnet': 'tests/data/deploy_flanet_r_tiny.py',
    'flanet_hrnet': 'tests/data/deploy_flanet_hr_tiny.py',
    'fcn_se_cbam': 'tests/data/deploy_fcn_se_cbam_tiny.py',
    'pspnet_se': 'tests/data/deploy_pspnet_tiny.py',
    'deeplabv3plus_cbam': 'tests/data/deploy_deeplabv3plus_tiny.py',
    'upernet_se': 'tests/data/deploy_upernet_tiny.py',
    'fpn_aff': 'tests/data/deploy_fpn_aff_tiny.py',
    'fpn_iaff': 'tests/data/attention_vis_fpn_tiny.py',
}

_CACHE = {}


def config_path(family: str) -> str:
    return osp.join(REPO_ROOT, FAMILIES[family])


def tiny_segmentor(family: str) -> torch.nn.Module:
    """The tiny segmentor of ``family`` (eval mode; shared: do not change it)."""
    if family not in _CACHE:
        torch.manual_seed(0)
        model = build_segmentor(config_path(family))
        randomize_norms(model, torch.Generator().manual_seed(0))
        _CACHE[family] = model.eval()
    return _CACHE[family]


def no_onednn():
    """Tiny tensors: oneDNN's per-shape kernel creation costs more than the
    convolutions themselves (the autouse fixture of the deployment tests)."""
    with torch.backends.mkldnn.flags(enabled=False):
        yield
