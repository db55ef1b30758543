# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones.bisenetv1 import SpatialPath
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mmseg_attn.models.backbones import BiSeNetBackbone
from tests.utils import import_mmpretrain_models

register_all_modules()


def _context(depth=18, **kwargs):
    cfg = dict(type='ResNetV1c', depth=depth, out_indices=(0, 1, 2, 3), init_cfg=None)
    cfg.update(kwargs)
    return cfg


def _ceil_div(x, n):
    return -(-x // n)


@pytest.mark.parametrize('size', [(64, 64), (65, 97)])
def test_output_shapes(size):
    backbone = BiSeNetBackbone(_context()).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        spatial, x16, x32 = backbone(x)
    h8, w8 = _ceil_div(size[0], 8), _ceil_div(size[1], 8)
    assert spatial.shape == (2, 128, h8, w8)
    assert x16.shape == (2, 256, _ceil_div(size[0], 16), _ceil_div(size[1], 16))
    assert x32.shape == (2, 512, _ceil_div(size[0], 32), _ceil_div(size[1], 32))


def test_spatial_path_equals_mmseg():
    """Default settings reproduce mmseg's SpatialPath, parameter names included."""
    torch.manual_seed(0)
    ours = BiSeNetBackbone(_context())
    theirs = SpatialPath(3, (64, 64, 64, 128))
    ours_sd = ours.spatial_path.state_dict()
    assert list(ours_sd) == list(theirs.state_dict())
    for module in theirs.modules():  # random stats, so a wrong mapping shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 2)
    ours.spatial_path.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        assert torch.equal(ours(x)[0], theirs(x))


def test_paper_spatial_path():
    backbone = BiSeNetBackbone(
        _context(), spatial_channels=(64, 128, 256), spatial_kernel_sizes=(3, 3, 3))
    layers = list(backbone.spatial_path)
    assert len(layers) == 3
    for layer, out in zip(layers, (64, 128, 256)):
        assert layer.conv.kernel_size == (3, 3)
        assert layer.conv.stride == (2, 2)
        assert layer.conv.out_channels == out
        assert isinstance(layer.bn, nn.BatchNorm2d)
        assert isinstance(layer.activate, nn.ReLU)
    with torch.no_grad():
        spatial = backbone.eval()(torch.rand(1, 3, 64, 64))[0]
    assert spatial.shape == (1, 256, 8, 8)


def test_context_backbone_receives_norm_cfg():
    gn = dict(type='GN', num_groups=8, requires_grad=True)
    backbone = BiSeNetBackbone(_context(), norm_cfg=gn)
    norms = [m for m in backbone.modules() if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d))]
    assert norms and all(isinstance(m, nn.GroupNorm) for m in norms)
    # an explicit norm_cfg of the context backbone wins
    backbone = BiSeNetBackbone(_context(norm_cfg=dict(type='BN')), norm_cfg=gn)
    assert isinstance(backbone.context_backbone.layer1[0].bn1, nn.BatchNorm2d)
    assert isinstance(backbone.spatial_path.layer1.gn, nn.GroupNorm)


def test_registered_and_other_context_backbones():
    import_mmpretrain_models()
    backbone = MODELS.build(
        dict(
            type='BiSeNetBackbone',
            context_backbone=dict(
                type='mmpretrain.ResNet', depth=18, out_indices=(2, 3), init_cfg=None),
            context_out_indices=(0, 1)))
    assert type(backbone.context_backbone).__module__.startswith('mmpretrain')
    with torch.no_grad():
        outs = backbone.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]


def test_context_out_indices_select_stages():
    backbone = BiSeNetBackbone(_context(), context_out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 128, 512]
    backbone = BiSeNetBackbone(_context(), context_out_indices=(3, 5)).eval()
    with pytest.raises(IndexError, match='context_out_indices'):
        backbone(torch.rand(1, 3, 64, 64))


def test_gradients_reach_every_parameter():
    backbone = BiSeNetBackbone(_context(), spatial_channels=(8, 8, 8, 16)).train()
    outs = backbone(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    for name, p in backbone.named_parameters():
        assert p.grad is not None, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(context_backbone='ResNetV1c'), 'context_backbone'),
    (dict(context_backbone=dict(depth=18)), 'context_backbone'),
    (dict(in_channels=0), 'in_channels'),
    (dict(spatial_channels=(64, 64)), 'spatial_channels'),
    (dict(spatial_channels=(64, 0, 64)), 'spatial_channels'),
    (dict(spatial_kernel_sizes=(7, 3)), 'spatial_kernel_sizes'),
    (dict(spatial_kernel_sizes=(7, 4, 3)), 'spatial_kernel_sizes'),
    (dict(context_out_indices=()), 'context_out_indices'),
])
def test_bad_arguments(kwargs, match):
    args = dict(context_backbone=_context())
    args.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=match):
        BiSeNetBackbone(**args)
