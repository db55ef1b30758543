# Copyright (c) mmseg_attn contributors. All rights reserved.
import io
from unittest import mock

import pytest
import torch

from mmseg_attn.models.layers import FullyAttentionalBlock, fla_kernels, fully_attentional
from mmseg_attn.models.layers.fully_attentional import AttentionProbe
from mmseg_attn.testing.fla import FLA_KEY_MAP, FLAReference, translate_keys
from mmseg_attn.utils.torch_compat import ONNX_DYNAMO_EXPORT, sdpa_backends

IMPLS = FullyAttentionalBlock.IMPLS
# odd sizes: H = 97 is the stride-8 map of a 769 x 769 crop
ODD = (16, 97, 33)


def _pair(channels, dtype=torch.float64, impl='auto', fix_batch=True, gamma=0.7, **kwargs):
    """A reference block and a FullyAttentionalBlock holding the same weights."""
    torch.manual_seed(0)
    ref = FLAReference(channels, fix_batch=fix_batch).to(dtype)
    block = FullyAttentionalBlock(channels, impl=impl, **kwargs).to(dtype)
    with torch.no_grad():
        ref.gamma.fill_(gamma)  # 0 at init would hide the attention
        for p in ref.parameters():
            if p.dim() > 0 and p is not ref.gamma:
                p.add_(torch.randn_like(p) * 0.1)
        ref.conv[1].running_mean.normal_(0, 0.2)
        ref.conv[1].running_var.uniform_(0.5, 1.5)
    block.load_state_dict(translate_keys(ref.state_dict(), FLA_KEY_MAP))
    return ref, block


def _close(actual, expected):
    """float64 within 1e-10; float32 within 1e-5 relative to the largest value."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if actual.dtype == torch.float64:
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    else:
        scale = expected.abs().max().item()
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * scale)


def _ops(fn):
    """Names of the aten ops that ``fn()`` runs (forward and backward)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.name for e in prof.events()}


#: PyTorch's CPU flash kernel (``..._for_cpu`` since torch 2.3) and its backward.
_FLASH = 'aten::_scaled_dot_product_flash_attention'


def _flash_forward(ops):
    return any(op.startswith(_FLASH) and not op.endswith('_backward') for op in ops)


def _flash_backward(ops):
    return any(op.startswith(_FLASH) and op.endswith('_backward') for op in ops)


def test_fla_gamma_starts_at_zero():
    block = FullyAttentionalBlock(8)
    assert block.gamma.item() == 0
    assert block.gamma.shape == (1, )
    assert block.impl == 'auto'


def test_fla_state_dict_is_unchanged_by_the_probe():
    keys = set(FullyAttentionalBlock(8).state_dict())
    assert keys == {
        'conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'gamma',
        'conv.conv.weight', 'conv.bn.weight', 'conv.bn.bias', 'conv.bn.running_mean',
        'conv.bn.running_var', 'conv.bn.num_batches_tracked'
    }
    assert FullyAttentionalBlock.attention_kind == 'fla'
    assert FullyAttentionalBlock.num_inputs == 1


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_fla_every_impl_matches_reference_at_odd_sizes(impl, training, dtype):
    ref, block = _pair(ODD[0], dtype, impl)
    ref.train(training)
    block.train(training)
    x = torch.randn(2, *ODD, dtype=dtype)
    expected = ref(x)
    _close(block(x), expected)
    with torch.no_grad():  # the in-place inference path
        _close(block(x), expected)


def test_fla_literal_reference_agrees_for_one_image_only():
    literal, block = _pair(8, fix_batch=False)
    literal.eval()
    block.eval()
    x = torch.randn(2, 8, 6, 5, dtype=torch.float64)
    x[1] = x[1] * 3 + 1  # two clearly different images
    _close(block(x[:1]), literal(x[:1]))
    assert not torch.allclose(block(x), literal(x), atol=1e-3)


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_batch_equals_stacked_single_images(impl):
    _, block = _pair(ODD[0], torch.float64, impl)
    block.eval()  # BN statistics would otherwise couple the images
    x = torch.randn(3, *ODD, dtype=torch.float64)
    singles = torch.cat([block(x[i:i + 1]) for i in range(3)])
    _close(block(x), singles)


def test_fla_gradients_equal_across_impls():
    ref, _ = _pair(8, torch.float64)
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    grads = {}
    for impl in IMPLS + ('reference', ):
        module = ref if impl == 'reference' else _pair(8, torch.float64, impl)[1]
        inp = x.clone().requires_grad_()
        module(inp).square().sum().backward()
        grads[impl] = [inp.grad] + [p.grad for p in module.parameters()]
    for impl in IMPLS:
        for actual, expected in zip(grads[impl], grads['reference']):
            _close(actual, expected)


@pytest.mark.parametrize('chunk_size', [1, 4, 100])
def test_fla_chunk_size_does_not_change_the_result(chunk_size):
    ref, block = _pair(8, torch.float64, 'chunked', chunk_size=chunk_size)
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    _close(block(x), ref(x))
    with torch.no_grad():
        _close(block(x), ref(x))


def _backward_nodes(out):
    """Names of the autograd nodes behind ``out``."""
    names, todo, seen = set(), [out.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        todo += [next_fn for next_fn, _ in node.next_functions]
    return names


def test_fla_default_float32_cpu_path_is_fused():
    """Fails when the default path runs anything but PyTorch's fused CPU
    kernel forward: ``sdpa_backends('flash')`` raises instead of
    falling back to the math path (e.g. for a q, k or v whose last stride is
    not 1), and no softmax over explicit energies may run in inference. The
    training backward is the sparing one, never PyTorch's flash backward."""
    _, block = _pair(16, torch.float32)
    x = torch.randn(2, 16, 9, 7, requires_grad=True)

    def infer():
        with torch.no_grad(), sdpa_backends('flash'):
            block(x)

    ops = _ops(infer)
    assert _flash_forward(ops)
    assert not {'aten::_softmax', 'aten::softmax', 'aten::bmm'} & ops

    def train():
        with sdpa_backends('flash'):
            out = block(x)
        assert 'SharedKeyAttentionBackward' in _backward_nodes(out)
        out.sum().backward()

    ops = _ops(train)
    assert _flash_forward(ops)
    assert not _flash_backward(ops)
    assert 'aten::_softmax_backward_data' in ops


def test_fla_fused_impl_keeps_the_flash_backward():
    _, block = _pair(16, torch.float32, 'fused')
    x = torch.randn(2, 16, 9, 7, requires_grad=True)

    def train():
        with sdpa_backends('flash'):
            block(x).sum().backward()

    ops = _ops(train)
    assert _flash_backward(ops)
    assert not {'aten::_softmax', 'aten::softmax', 'aten::bmm'} & ops


@pytest.mark.parametrize('input_grad', [True, False], ids=['input_grad', 'params_only'])
@pytest.mark.parametrize('chunk_size', [None, 2, 5])
def test_fla_sparing_backward_equals_the_flash_backward(input_grad, chunk_size):
    """The default CPU backward (chunks of the recomputed attention) against
    PyTorch's flash backward (impl='fused') at odd sizes, in float64."""
    x = torch.randn(2, *ODD, dtype=torch.float64)
    grads = {}
    for impl in ('auto', 'fused'):
        _, block = _pair(ODD[0], torch.float64, impl, chunk_size=chunk_size)
        inp = x.clone().requires_grad_(input_grad)
        out = block(inp)
        assert ('SharedKeyAttentionBackward' in _backward_nodes(out)) == (impl == 'auto')
        out.square().sum().backward()
        grads[impl] = [p.grad for p in block.parameters()] + ([inp.grad] if input_grad else [])
    assert len(grads['auto']) == len(grads['fused'])
    for actual, expected in zip(grads['auto'], grads['fused']):
        _close(actual, expected)


@pytest.mark.parametrize('input_grad', [True, False], ids=['input_grad', 'params_only'])
def test_fla_sparing_backward_forms_only_the_asked_gradients(input_grad):
    """The slices' gradient (``dE P^T + A^T dO``: the only batched
    multiply-add) is formed only when the input needs one, and every softmax
    runs on ``chunk_size`` slices at most."""
    _, block = _pair(16, torch.float32, chunk_size=2)
    x = torch.randn(2, 16, 9, 7, requires_grad=input_grad)
    with torch.profiler.profile(record_shapes=True) as prof:
        block(x).sum().backward()
    events = [e for e in prof.events() if e.name in ('aten::_softmax', 'aten::baddbmm_')]
    softmax_shapes = [e.input_shapes[0] for e in events if e.name == 'aten::_softmax']
    assert softmax_shapes and all(shape[0] <= 2 for shape in softmax_shapes)
    assert any(e.name == 'aten::baddbmm_' for e in events) == input_grad


def test_fla_sparing_backward_gradcheck():
    """The sparing backward of one branch is the derivative of its forward."""
    torch.manual_seed(0)
    query = torch.randn(2, 5, 6, 3, dtype=torch.float64, requires_grad=True)
    prior = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    for chunk in (1, 2, 5):
        assert torch.autograd.gradcheck(
            lambda q, p, chunk=chunk: fla_kernels.SharedKeyAttention.apply(q, p, chunk),
            (query, prior))


def test_fla_auto_falls_back_to_chunked_without_a_fused_kernel():
    ref, block = _pair(8, torch.float32)
    x = torch.randn(2, 8, 6, 5)
    with sdpa_backends('math'):  # the flash kernel switched off
        ops = _ops(lambda: _close(block(x), ref(x)))
        with pytest.raises(ValueError, match=r"impl='fused'.*flash kernel is switched off"):
            _pair(8, torch.float32, 'fused')[1](x)
    assert 'aten::_softmax' in ops and not any('scaled_dot_product' in op for op in ops)


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_fla_head_dim_padding_is_exact(training):
    """CUDA's memory-efficient kernel gets the head dim zero-padded (H = 97
    -> 100); the same padding, forced on the CPU kernel, changes nothing."""
    ref, block = _pair(ODD[0], torch.float64)
    ref.train(training)
    block.train(training)
    x = torch.randn(2, *ODD, dtype=torch.float64)
    with mock.patch.object(fully_attentional, 'head_dim_padding',
                           lambda device, dtype, head_dim: -head_dim % 4) as pad:
        out = block(x)
    assert pad(None, None, 97) == 3 and pad(None, None, 33) == 3
    _close(out, ref(x))


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_probe_gives_the_reference_attention(impl):
    ref, block = _pair(8, torch.float64, impl)
    ref.eval()
    block.eval()
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    seen = []
    handle = block.attention_probe.register_forward_hook(
        lambda module, args, output: seen.append(output))
    out = block(x)
    handle.remove()
    assert len(seen) == 1
    col, row = seen[0]
    assert col.shape == (2, 5, 8, 8) and row.shape == (2, 7, 8, 8)
    ref_col, ref_row = ref.attention_maps(x)
    _close(col, ref_col)
    _close(row, ref_row)
    _close(col.sum(-1), torch.ones_like(col.sum(-1)))
    _close(out, block(x))  # the probe does not change the result
    assert isinstance(block.attention_probe, AttentionProbe)


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_maps_are_formed_only_when_the_probe_is_hooked(impl):
    _, block = _pair(8, torch.float32, impl)
    x = torch.randn(2, 8, 7, 5)
    with mock.patch.object(block, 'attention_maps', wraps=block.attention_maps) as maps:
        block(x)
        assert maps.call_count == 0
        handle = block.attention_probe.register_forward_hook(lambda *args: None)
        block(x)
        assert maps.call_count == 1
        handle.remove()
        block(x)
        assert maps.call_count == 1


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_output_may_be_changed_in_place(impl):
    """mmseg's Bottleneck adds the identity to a plugin's output in place and
    applies ReLU in place; the block's backward must not depend on it."""
    _, block = _pair(8, torch.float32, impl)
    x = torch.randn(2, 8, 4, 3, requires_grad=True)
    out = block(x)
    out += 1
    out.relu_()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_fla_gradcheck():
    _, block = _pair(4, torch.float64, gamma=0.5)
    block.eval()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, ), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_bfloat16_autocast(impl):
    ref, block = _pair(32, torch.float32, impl)
    ref.eval()
    block.eval()
    x = torch.randn(2, 32, 9, 7)
    expected = ref(x)  # float32
    for scale in (1, 20):  # 20: large energies, nearly one-hot attention
        with torch.autocast('cpu', dtype=torch.bfloat16):
            with torch.no_grad():
                out = block(x * scale)
            out_grad = block(x * scale)
        assert out.dtype == out_grad.dtype == torch.bfloat16
        assert torch.isfinite(out).all() and torch.isfinite(out_grad).all()
        if scale == 1:  # bfloat16 keeps about 3 significant digits
            for y in (out, out_grad):
                torch.testing.assert_close(y.float(), expected, rtol=0.03, atol=0.03)


@pytest.mark.parametrize('impl', IMPLS)
def test_fla_compiles_to_one_graph(impl):
    torch._dynamo.reset()
    _, block = _pair(8, torch.float32, impl)
    block.eval()
    x = torch.randn(2, 8, 5, 7)
    compiled = torch.compile(block, fullgraph=True, backend='eager')
    with torch.no_grad():
        _close(compiled(x), block(x))
    _close(compiled(x), block(x))


@pytest.mark.parametrize('impl', ['auto', 'math'])
def test_fla_onnx_export(impl):
    onnx = pytest.importorskip('onnx', reason='onnx is not installed (pip install onnx)')
    _, block = _pair(8, torch.float32, impl)
    block.eval()
    x = torch.randn(2, 8, 5, 7)
    f = io.BytesIO()
    kwargs = dict(dynamo=False) if ONNX_DYNAMO_EXPORT else {}
    torch.onnx.export(block, (x, ), f, opset_version=17, **kwargs)
    model = onnx.load_from_string(f.getvalue())
    assert {'Softmax', 'MatMul', 'Conv'} <= {n.op_type for n in model.graph.node}
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(f.getvalue())
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    _close(torch.from_numpy(out), block(x).detach())


@pytest.mark.parametrize('size', [(0, 5), (4, 0)])
def test_fla_zero_sized_map_is_named(size):
    block = FullyAttentionalBlock(8)
    with pytest.raises(ValueError, match=r'FullyAttentionalBlock needs a feature map of at '
                       r'least 1 x 1.*larger images'):
        block(torch.randn(1, 8, *size))


def test_fla_fused_on_a_device_without_kernel():
    block = FullyAttentionalBlock(4, impl='fused').to('meta')
    with pytest.raises(ValueError, match="impl='fused'.*device type 'meta'"):
        block(torch.randn(1, 4, 3, 3, device='meta'))
    block.impl = 'auto'  # falls back to the chunked path
    assert block(torch.randn(1, 4, 3, 3, device='meta')).shape == (1, 4, 3, 3)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels=8, chunk_size=0), ValueError, 'chunk_size'),
    (dict(in_channels=8, chunk_size=2.5), TypeError, 'chunk_size'),
    (dict(in_channels=8, impl='flash'), ValueError, r"impl must be one of \('auto'"),
])
def test_fla_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FullyAttentionalBlock(**kwargs)
