# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Fixtures shared by the attention block tests.

The helpers themselves live in :mod:`mmseg_attn.testing` (shared with the
benchmarks): ``copy_weights(src, dst)`` copies the weights of a reference
module into a block after giving the reference random norm statistics,
``assert_same(a, b)`` compares to 1e-6 in float32 and 1e-10 in float64,
``features(n, c, h, w, dtype)`` gives well-conditioned inputs.
"""
import pytest
import torch

import mmseg_attn  # noqa: F401  (registers the blocks)
from mmseg_attn import testing


@pytest.fixture(autouse=True)
def _plain_cpu_kernels():
    """Tiny tensors: oneDNN's per-shape kernel creation costs more than the
    convolutions themselves, so these tests use the native kernels."""
    with torch.backends.mkldnn.flags(enabled=False):
        yield


@pytest.fixture
def features():
    return testing.features


@pytest.fixture
def copy_weights():
    return testing.copy_weights


@pytest.fixture
def assert_same():
    return testing.assert_same


@pytest.fixture(params=[torch.float32, torch.float64], ids=['float32', 'float64'])
def dtype(request):
    return request.param


@pytest.fixture(params=[True, False], ids=['train', 'eval'])
def training(request):
    return request.param
