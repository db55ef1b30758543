"""mmseg_attn.testing: the documented reference defects and their flags, the helpers."""
import pytest
import torch
import torch.nn as nn

from mmseg_attn.testing import (
    RefAttentionout,
    RefIAFF,
    assert_same,
    copy_weights,
    features,
    randomize_norms,
    run_both,
)


def test_iaff_literal_reference_reuses_global_att():
    torch.manual_seed(0)
    literal = RefIAFF(8, 2).eval()
    fixed = RefIAFF(8, 2, fix_global_att2=True).eval()
    fixed.load_state_dict(literal.state_dict())
    x, y = features(2, 8, 4, 3), features(2, 8, 4, 3)
    randomize_norms(literal, torch.Generator().manual_seed(1))
    randomize_norms(fixed, torch.Generator().manual_seed(1))
    assert not torch.allclose(literal(x, y), fixed(x, y))
    # the literal code leaves global_att2 without gradient, the fixed one does not
    for module, expected in ((literal, False), (fixed, True)):
        module.train()
        module.zero_grad()
        module(x, y).square().sum().backward()
        grads = [p.grad is not None for p in module.global_att2.parameters()]
        assert all(g == expected for g in grads), (module.fix_global_att2, grads)


def test_attentionout_literal_returns_out_and_the_fix_adds_x():
    torch.manual_seed(0)
    literal = RefAttentionout(4).eval()
    fixed = RefAttentionout(4, fix_residual=True).eval()
    fixed.load_state_dict(literal.state_dict())
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(fixed(x), x + literal(x))


def test_copy_weights_pairs_layers_and_randomizes_norms():
    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm2d(6))
    dst = nn.Sequential(nn.Conv2d(4, 6, 1, bias=False), nn.BatchNorm2d(6))
    copy_weights(src, dst)
    assert_same(dst[0].weight.flatten(1), src[0].weight)
    assert torch.all(src[0].bias == 0)  # only src had it: zeroed there
    for name in ('weight', 'bias', 'running_mean', 'running_var'):
        assert_same(getattr(dst[1], name), getattr(src[1], name))
    assert not torch.all(src[1].running_var == 1)  # randomized before the copy


@pytest.mark.parametrize('dst, match', [
    (nn.Sequential(nn.Conv2d(4, 6, 1)), 'src has 2 and dst 1'),
    (nn.Sequential(nn.Conv2d(4, 6, 1), nn.Conv2d(6, 6, 1)), 'paired'),
    (nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6, momentum=0.01)), 'momentum'),
])
def test_copy_weights_refuses_a_wrong_pairing(dst, match):
    src = nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6))
    with pytest.raises(ValueError, match=match):
        copy_weights(src, dst)


def test_features_are_well_conditioned():
    torch.manual_seed(0)
    x = features(8, 16, 5, 5, torch.float64)
    assert x.shape == (8, 16, 5, 5) and x.dtype == torch.float64
    # the pooled values spread over the batch far more than plain randn's
    assert x.mean((2, 3)).std(0).min() > 0.5


def test_assert_same_tolerances():
    a = torch.ones(3, dtype=torch.float64)
    assert_same(a, a + 1e-11)
    with pytest.raises(AssertionError):
        assert_same(a, a + 1e-8)
    with pytest.raises(AssertionError):
        assert_same(a, a.float())


def test_run_both_sets_the_mode():
    a, b = nn.BatchNorm2d(2), nn.BatchNorm2d(2)
    x = torch.randn(2, 2, 3, 3)
    run_both(a, b, (x, ), training=False)
    assert not a.training and not b.training
    out_b, out_a = run_both(a, b, (x, ), training=True)
    assert a.training and b.training
    assert_same(out_a, out_b)
