"""mmseg_attn.testing.pairs: every block next to its reference computes the same function."""
import pytest
import torch

from mmseg_attn.testing import BLOCK_PAIRS, block_accepts, make_inputs, make_pair, make_step


@pytest.fixture(autouse=True)
def _plain_cpu_kernels():
    with torch.backends.mkldnn.flags(enabled=False):
        yield


@pytest.mark.parametrize('name', list(BLOCK_PAIRS))
def test_pair_computes_the_same_function(name):
    shape = (2, 16, 6, 5)
    ours, ref = make_pair(name, shape[1])
    assert not ours.training and not ref.training
    inputs = make_inputs(name, shape)
    assert len(inputs) == BLOCK_PAIRS[name].num_inputs
    with torch.no_grad():
        out = ours(*inputs)
        torch.testing.assert_close(out, ref(*inputs), rtol=1e-5, atol=1e-5)
    assert out.shape[0] == 2 and out.shape[2:] == (6, 5)


def test_ffm_inputs_split_the_channels():
    x_spatial, x_context = make_inputs('FeatureFusionModule', (1, 9, 2, 3))
    assert x_spatial.shape == (1, 4, 2, 3) and x_context.shape == (1, 5, 2, 3)


def test_train_step_leaves_no_gradients():
    ours, _ = make_pair('SqueezeExcitation', 16)
    step = make_step(ours, make_inputs('SqueezeExcitation', (2, 16, 3, 3)), 'train')
    assert ours.training
    step()
    assert all(p.grad is None for p in ours.parameters())


def test_train_step_with_input_gradients():
    ours, _ = make_pair('SqueezeExcitation', 16)
    inputs = make_inputs('SqueezeExcitation', (2, 16, 3, 3))
    seen = []
    ours.register_full_backward_hook(lambda module, grad_in, grad_out: seen.append(grad_in[0]))
    make_step(ours, inputs, 'train', input_grad=True)()
    assert seen[0] is not None and seen[0].shape == (2, 16, 3, 3)
    assert not inputs[0].requires_grad  # the caller's tensors are left as they were
    seen.clear()
    make_step(ours, inputs, 'train')()
    assert seen[0] is None  # parameters only


def test_bad_names():
    with pytest.raises(ValueError, match='name must be one of'):
        make_pair('SE', 8)
    with pytest.raises(ValueError, match='mode'):
        make_step(torch.nn.Identity(), (), 'eval')
    assert block_accepts('SqueezeExcitation', 'ratio')
    assert not block_accepts('SqueezeExcitation', 'impl')
