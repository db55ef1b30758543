# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
from mmseg.models.necks import FPN
from mmseg.registry import MODELS

from mmseg_attn.models.layers import AFF, iAFF
from mmseg_attn.models.necks import AFFFPN

IN_CHANNELS = [8, 16, 32, 64]
SIZES = [(33, 45), (17, 23), (9, 12), (5, 6)]


def _inputs(batch=2):
    torch.manual_seed(0)
    return [torch.rand(batch, c, h, w) for c, (h, w) in zip(IN_CHANNELS, SIZES)]


@pytest.mark.parametrize('fusion,cls', [('AFF', AFF), ('iAFF', iAFF)])
def test_shapes_and_gradients(fusion, cls):
    neck = MODELS.build(dict(type='AFFFPN', in_channels=IN_CHANNELS, out_channels=16,
                             num_outs=4, fusion_cfg=dict(type=fusion, ratio=4)))
    assert len(neck.fusions) == 3
    assert all(isinstance(f, cls) and f.in_channels == 16 for f in neck.fusions)
    neck.train()
    outs = neck(_inputs())
    assert [tuple(o.shape) for o in outs] == [(2, 16, h, w) for h, w in SIZES]
    sum(o.mean() for o in outs).backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_fusion_inputs_are_lateral_then_top_down():
    neck = AFFFPN(IN_CHANNELS, 16, 4, fusion_cfg=dict(type='AFF', ratio=4)).eval()
    seen = {}

    def hook(module, args):
        seen['args'] = args

    neck.fusions[0].register_forward_pre_hook(hook)
    inputs = _inputs()
    with torch.no_grad():
        neck(inputs)
        lateral = neck.lateral_convs[0](inputs[0])
    x, y = seen['args']
    assert torch.allclose(x, lateral)
    assert y.shape == lateral.shape and not torch.allclose(y, lateral)


def test_extra_levels_and_start_level():
    neck = AFFFPN(IN_CHANNELS, 16, 5, start_level=1, add_extra_convs='on_input',
                  fusion_cfg=dict(type='iAFF', ratio=4)).eval()
    assert len(neck.fusions) == 2
    with torch.no_grad():
        outs = neck(_inputs())
    assert [tuple(o.shape[2:]) for o in outs] == SIZES[1:] + [(3, 3), (2, 2)]
    neck = AFFFPN(IN_CHANNELS, 16, 5).eval()
    with torch.no_grad():
        outs = neck(_inputs())
    assert len(outs) == 5 and outs[4].shape[2:] == (3, 3)


def test_fpn_weights_load_and_none_is_fpn():
    fpn = FPN(IN_CHANNELS, 16, 4).eval()
    neck = AFFFPN(IN_CHANNELS, 16, 4).eval()
    result = neck.load_state_dict(fpn.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(k.startswith('fusions.') for k in result.missing_keys)

    plain = AFFFPN(IN_CHANNELS, 16, 4, fusion_cfg=None).eval()
    assert len(plain.fusions) == 0
    plain.load_state_dict(fpn.state_dict())
    inputs = _inputs()
    with torch.no_grad():
        for a, b in zip(plain(inputs), fpn(inputs)):
            assert torch.allclose(a, b, atol=1e-6)
        assert not torch.allclose(neck(inputs)[0], fpn(inputs)[0], atol=1e-4)


def test_bad_arguments():
    with pytest.raises(TypeError, match='two-input'):
        AFFFPN(IN_CHANNELS, 16, 4, fusion_cfg=dict(type='CBAM'))
    with pytest.raises(TypeError, match='in_channels'):
        AFFFPN(64, 16, 4)
    neck = AFFFPN(IN_CHANNELS, 16, 4)
    with pytest.raises(ValueError, match='expects 4 inputs'):
        neck(_inputs()[:3])
