# Copyright (c) mmseg_attn contributors. All rights reserved.
"""FullyAttentionalBlock on CUDA: each fused kernel is selected, results and
peak memory against the reference. Skipped without a CUDA GPU."""
import pytest
import torch

from mmseg_attn.analysis.memory import peak_memory
from mmseg_attn.models.layers import FullyAttentionalBlock
from mmseg_attn.testing.fla import FLA_KEY_MAP, FLAReference, translate_keys
from mmseg_attn.utils.torch_compat import cuda_sdpa_checks, sdpa_backends

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

FLASH, EFFICIENT, CUDNN = 'flash', 'efficient', 'cudnn'
KERNEL_OPS = {
    FLASH: 'aten::_scaled_dot_product_flash_attention',
    EFFICIENT: 'aten::_scaled_dot_product_efficient_attention',
    CUDNN: 'aten::_scaled_dot_product_cudnn_attention',
}
# (C, H, W): head dims H and W multiples of 8, and H = 97 (a 769 x 769 crop
# at stride 8), which the memory-efficient kernel takes only zero-padded
CASES = [
    (FLASH, torch.bfloat16, (16, 24, 40)),
    (FLASH, torch.float16, (16, 97, 33)),
    (EFFICIENT, torch.float32, (16, 24, 40)),
    (EFFICIENT, torch.float32, (16, 97, 33)),
    (EFFICIENT, torch.bfloat16, (16, 97, 33)),
    (CUDNN, torch.bfloat16, (16, 24, 40)),
    (CUDNN, torch.float16, (16, 64, 128)),
]


def _pair(channels, impl='fused'):
    torch.manual_seed(0)
    ref = FLAReference(channels, fix_batch=True)
    with torch.no_grad():
        ref.gamma.fill_(0.7)
        for p in ref.parameters():
            if p.dim() > 0:
                p.add_(torch.randn_like(p) * 0.1)
    block = FullyAttentionalBlock(channels, impl=impl)
    block.load_state_dict(translate_keys(ref.state_dict(), FLA_KEY_MAP))
    return ref.cuda(), block.cuda()


def _kernel_available(backend, dtype, head_dim):
    """Whether this GPU and build run ``backend`` at all for plain inputs."""
    q = torch.randn(2, 4, 16, head_dim, device='cuda', dtype=dtype)
    asked = cuda_sdpa_checks(q, q)
    if asked is None:
        pytest.skip(f'torch {torch.__version__} cannot tell which CUDA attention kernel takes '
                    'a call (torch.backends.cuda.SDPAParams needs torch >= 2.3)')
    params, checks = asked
    check = next((c for c in checks if c.__name__ == f'can_use_{backend}_attention'), None)
    return check is not None and check(params, False)


@pytest.mark.parametrize('backend, dtype, size', CASES,
                         ids=[f'{b}-{d}-{"x".join(map(str, s))}' for b, d, s in CASES])
def test_fla_cuda_kernel_is_selected(backend, dtype, size):
    c, h, w = size
    multiple = 4 if dtype == torch.float32 else 8
    if not _kernel_available(backend, dtype, -(-max(h, w) // multiple) * multiple):
        pytest.skip(f'{backend} is not available for {dtype} on this GPU/build')
    ref, block = _pair(c)
    x = torch.randn(2, c, h, w, device='cuda')
    with torch.backends.cudnn.flags(allow_tf32=False):
        expected = ref(x)
        # the only kernel allowed: raises instead of falling back
        with sdpa_backends(backend), torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            with torch.autocast('cuda', dtype=dtype, enabled=dtype != torch.float32):
                out = block(x)
            out.float().sum().backward()
    ops = {e.name for e in prof.events()}
    assert KERNEL_OPS[backend] in ops
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in block.parameters())
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(out.float(), expected, rtol=tol, atol=tol * expected.abs().max())


def test_fla_cuda_padded_head_dim_is_exact():
    """The zero padding of H = 97 for the memory-efficient kernel changes
    nothing: float32 result equal to the explicit path."""
    _, block = _pair(16)
    math = FullyAttentionalBlock(16, impl='math').cuda()
    math.load_state_dict(block.state_dict())
    x = torch.randn(2, 16, 97, 33, device='cuda')
    with torch.backends.cudnn.flags(allow_tf32=False), torch.no_grad():
        with sdpa_backends(EFFICIENT):
            out = block(x)
        expected = math(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max())


@pytest.mark.parametrize('train', [False, True], ids=['inference', 'training'])
def test_fla_cuda_peak_memory_below_reference(train):
    c, h, w = 256, 64, 64
    ref, block = _pair(c, impl='auto')
    x = torch.randn(2, c, h, w, device='cuda')
    peaks = {}
    for name, module in (('reference', ref), ('block', block)):
        module.train(train)

        def step(module=module):
            if train:
                module(x).sum().backward()
            else:
                with torch.no_grad():
                    module(x)

        step()  # warm-up: kernels and workspaces
        peaks[name] = peak_memory(step, device='cuda')
    ratio = peaks['block'] / peaks['reference']
    print(f'FLA CUDA {"training" if train else "inference"} peak at 2 x {c} x {h} x {w} '
          f'float32: {peaks["block"] / 2**20:.1f} MiB vs reference '
          f'{peaks["reference"] / 2**20:.1f} MiB ({ratio:.2f}x)')
    assert ratio <= (0.6 if train else 0.4)
