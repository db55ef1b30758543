# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Fixtures shared by the attention block tests.

``copy_weights(src, dst)`` copies the weights of a reference module into a
block, layer by layer in registration order, after giving the reference
random norm statistics and affine parameters (so that eval mode is
meaningful). ``assert_same(a, b)`` compares to 1e-6 in float32 and 1e-10 in
float64.
"""
import pytest
import torch
import torch.nn as nn

import mmseg_attn  # noqa: F401  (registers the blocks)

_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def _param_layers(module: nn.Module):
    return [m for m in module.modules() if isinstance(m, _LAYERS)]


@torch.no_grad()
def _randomize(module: nn.Module, generator: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            shape = m.running_mean.shape
            m.running_mean.copy_(torch.randn(shape, generator=generator) * 0.2)
            m.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(shape, generator=generator) * 0.2)


@torch.no_grad()
def _copy_weights(src: nn.Module, dst: nn.Module, seed: int = 0) -> None:
    """Copy ``src``'s weights into ``dst``, pairing layers in order.

    A bias that only ``src`` has is zeroed in ``src`` (the block drops a
    bias in front of a norm); a bias that only ``dst`` has is zeroed in
    ``dst``. Linear weights go into 1x1 convs reshaped.
    """
    generator = torch.Generator().manual_seed(seed)
    _randomize(src, generator)
    src_layers, dst_layers = _param_layers(src), _param_layers(dst)
    assert len(src_layers) == len(dst_layers), (src_layers, dst_layers)
    for s, d in zip(src_layers, dst_layers):
        assert isinstance(s, nn.BatchNorm2d) == isinstance(d, nn.BatchNorm2d), (s, d)
        d.weight.copy_(s.weight.reshape(d.weight.shape))
        if isinstance(s, nn.BatchNorm2d):
            d.bias.copy_(s.bias)
            d.running_mean.copy_(s.running_mean)
            d.running_var.copy_(s.running_var)
            assert (s.eps, s.momentum) == (d.eps, d.momentum), (s, d)
            continue
        if s.bias is not None and d.bias is not None:
            d.bias.copy_(s.bias)
        elif s.bias is not None:
            s.bias.zero_()
        elif d.bias is not None:
            d.bias.zero_()


def _assert_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    tol = 1e-10 if actual.dtype == torch.float64 else 1e-6
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


@pytest.fixture(autouse=True)
def _plain_cpu_kernels():
    """Tiny tensors: oneDNN's per-shape kernel creation costs more than the
    convolutions themselves, so these tests use the native kernels."""
    with torch.backends.mkldnn.flags(enabled=False):
        yield


def _features(n: int, c: int, h: int, w: int, dtype=torch.float32) -> torch.Tensor:
    """Random features whose channel means differ clearly between images.

    A norm on a pooled ``(N, C, 1, 1)`` map divides by the spread of the
    pooled values over the batch; with plain ``randn`` that spread is small
    and float32 rounding gets amplified past 1e-6. The offsets keep the
    comparison well conditioned.
    """
    return torch.randn(n, c, h, w, dtype=dtype) + 2 * torch.randn(n, c, 1, 1, dtype=dtype)


@pytest.fixture
def features():
    return _features


@pytest.fixture
def copy_weights():
    return _copy_weights


@pytest.fixture
def assert_same():
    return _assert_same


@pytest.fixture(params=[torch.float32, torch.float64], ids=['float32', 'float64'])
def dtype(request):
    return request.param


@pytest.fixture(params=[True, False], ids=['train', 'eval'])
def training(request):
    return request.param
