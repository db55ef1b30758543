"""The torch features of mmseg_attn.utils.torch_compat, on whichever torch runs the tests."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_attn.utils import torch_compat
from mmseg_attn.utils.torch_compat import (
    autocast_dtype,
    cpu_flash_dtypes,
    is_compiling,
    sdpa_backends,
)


def test_torch_is_in_the_supported_range():
    """setup.cfg states the range; the tests run at both of its ends."""
    assert (2, 1) <= torch_compat.torch_version()


def test_cpu_flash_kernel_exists_for_float32_and_bfloat16():
    """torch 2.1 has the CPU flash kernel for float32, float64 and bfloat16."""
    assert {torch.float32, torch.float64, torch.bfloat16} <= set(cpu_flash_dtypes())
    assert cpu_flash_dtypes() is cpu_flash_dtypes()  # found once


def test_sdpa_backends_raises_instead_of_falling_back():
    q = torch.randn(1, 2, 4, 8)
    with sdpa_backends('flash'):
        F.scaled_dot_product_attention(q, q, q)
        strided = q.transpose(-1, -2).contiguous().transpose(-1, -2)  # last stride != 1
        with pytest.raises(RuntimeError):
            F.scaled_dot_product_attention(strided, q, q)
    with sdpa_backends('math'):
        assert not torch.backends.cuda.flash_sdp_enabled()
        F.scaled_dot_product_attention(strided, q, q)
    assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    with pytest.raises(ValueError, match='names of'):
        with sdpa_backends('fast'):
            pass


def test_autocast_dtype_reads_each_device_type():
    assert autocast_dtype('cpu') is None and autocast_dtype('meta') is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_dtype('cpu') == torch.bfloat16
        assert autocast_dtype('cuda') is None


def test_is_compiling_inside_a_compiled_function():
    seen = []

    def fn(x):
        seen.append(is_compiling())
        return x + 1

    assert not is_compiling()
    torch._dynamo.reset()
    torch.compile(fn, backend='eager')(torch.ones(2))
    assert seen == [True]
    torch._dynamo.reset()


def test_onnx_exporter_features():
    assert torch_compat.ONNX_TORCHSCRIPT_MAX_OPSET >= 17
    assert torch_compat.ONNX_DYNAMO_EXPORT == (torch_compat.torch_version() >= (2, 5))
