# Copyright (c) mmseg_attn contributors. All rights reserved.
import functools

import pytest
import torch

from mmseg_attn.models.layers import AFF, MSCAM, iAFF
from mmseg_attn.testing import RefAFF, RefIAFF, RefMSCAM, run_both


def test_mscam_matches_reference(dtype, training, copy_weights, assert_same, features):
    torch.manual_seed(0)
    ref = RefMSCAM(16, 4).to(dtype)
    block = MSCAM(16, ratio=4).to(dtype)
    copy_weights(ref, block)
    x = features(4, 16, 5, 7, dtype)
    assert_same(*run_both(ref, block, (x, ), training))


@pytest.mark.parametrize('cls, ref_cls', [
    (AFF, RefAFF),
    (iAFF, functools.partial(RefIAFF, fix_global_att2=True)),
], ids=['AFF', 'iAFF'])
def test_fusion_matches_reference(cls, ref_cls, dtype, training, copy_weights, assert_same,
                                  features):
    torch.manual_seed(0)
    ref = ref_cls(16, 4).to(dtype)
    block = cls(16, ratio=4).to(dtype)
    copy_weights(ref, block)
    x, y = features(4, 16, 6, 5, dtype), features(4, 16, 6, 5, dtype)
    assert_same(*run_both(ref, block, (x, y), training))


def test_aff_input_roles():
    """``w`` weighs the first input, ``1 - w`` the second."""
    torch.manual_seed(0)
    block = AFF(8, ratio=2).eval()
    x, y = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    w = block.attention.attention_map(x + y)
    torch.testing.assert_close(block(x, y), x * w + y * (1 - w))
    # equal inputs are returned unchanged
    torch.testing.assert_close(block(x, x), x)


def test_iaff_uses_both_rounds():
    """Every parameter of iAFF, the second global branch included, gets a
    gradient (the reference leaves ``global_att2`` unused)."""
    torch.manual_seed(0)
    block = iAFF(8, ratio=2)
    x, y = torch.randn(2, 8, 4, 3), torch.randn(2, 8, 4, 3)
    block(x, y).square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert any(n.startswith('attention.global_att') for n, _ in block.named_parameters())


def test_aff_gradcheck():
    torch.manual_seed(0)
    block = AFF(6, ratio=2).double()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, y), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize('cls', [AFF, iAFF])
@pytest.mark.parametrize('shape_y', [(2, 8, 4, 5), (2, 8, 5, 4), (1, 8, 4, 4), (2, 8, 4)])
def test_fusion_mismatched_inputs(cls, shape_y):
    block = cls(8, ratio=2)
    x = torch.randn(2, 8, 4, 4)
    with pytest.raises(ValueError, match=rf'{cls.__name__} expects .*\(2, 8, 4, 4\)'):
        block(x, torch.randn(*shape_y))


@pytest.mark.parametrize('cls', [AFF, iAFF])
def test_fusion_wrong_channels(cls):
    block = cls(8, ratio=2)
    x = torch.randn(2, 4, 3, 3)
    with pytest.raises(ValueError, match=rf'{cls.__name__} .*in_channels = 8'):
        block(x, x)


@pytest.mark.parametrize('cls', [MSCAM, AFF, iAFF])
@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels=8, ratio=0), ValueError, 'ratio'),
    (dict(in_channels=8, ratio='4'), TypeError, 'ratio'),
    (dict(in_channels=8, divisor=0), ValueError, 'divisor'),
])
def test_fusion_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_mscam_widths():
    assert MSCAM(64).mid_channels == 16
    assert MSCAM(3, ratio=4).mid_channels == 1
    assert iAFF(64, ratio=16).attention.mid_channels == 4
