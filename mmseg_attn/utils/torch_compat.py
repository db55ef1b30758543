"""The torch features that not every supported torch has, checked once here.

mmseg_attn supports torch 2.1 (the newest torch with prebuilt mmcv 2.1.0
CUDA wheels, so what most mmseg GPU users run) up to the torch pinned in
``requirements/pins.txt``. Code of the package and its tests asks these
helpers instead of calling version-dependent torch APIs or comparing version
strings; each helper checks for the feature itself.

What a newer torch adds (see the README's table):

- fused attention (:func:`cpu_flash_dtypes`, :func:`cuda_sdpa_checks`):
  torch 2.1 has the CPU flash kernel for float32, float64 and bfloat16; the
  float16 one came later. Where torch cannot say in advance which CUDA kernel
  takes a call (no ``torch.backends.cuda.SDPAParams``, before 2.3),
  :func:`cuda_sdpa_checks` returns None and the choice is torch's;
- :func:`sdpa_backends` restricts scaled-dot-product attention to some
  kernels, with ``torch.nn.attention.sdpa_kernel`` (2.3+) or the older
  ``torch.backends.cuda.sdp_kernel`` flags (which the CPU kernels read too);
- :func:`is_compiling` is ``torch.compiler.is_compiling`` (2.3+), else
  ``torch._dynamo.is_compiling``;
- :func:`autocast_dtype` reads the autocast state of one device type
  (``torch.is_autocast_enabled(device_type)`` needs 2.4+);
- :data:`ONNX_DYNAMO_EXPORT`: ``torch.onnx.export(..., dynamo=True)`` (2.5+);
  :data:`ONNX_TORCHSCRIPT_MAX_OPSET`: the newest opset of the TorchScript-based
  exporter (17 in torch 2.1, 20 in 2.13).

Secure checkpoint loading has its own feature checks in
:mod:`mmseg_attn.security.allowlist` (it works on every supported torch).
"""
import contextlib
import inspect
import warnings
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = [
    'ONNX_DYNAMO_EXPORT', 'ONNX_TORCHSCRIPT_MAX_OPSET', 'SDPA_BACKENDS', 'autocast_dtype',
    'cpu_flash_dtypes', 'cuda_sdpa_checks', 'is_compiling', 'sdpa_backends', 'torch_version'
]

#: The kernels of :func:`torch.nn.functional.scaled_dot_product_attention`
#: that :func:`sdpa_backends` can pick from.
SDPA_BACKENDS = ('flash', 'efficient', 'cudnn', 'math')

#: Whether ``torch.onnx.export`` takes ``dynamo=`` (the torch.export-based exporter).
ONNX_DYNAMO_EXPORT = 'dynamo' in inspect.signature(torch.onnx.export).parameters


def _torchscript_max_opset() -> int:
    try:
        from torch.onnx import _constants
    except ImportError:  # pragma: no cover
        return 17
    return int(getattr(_constants, 'ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET', 17))


#: The newest ONNX opset that torch's TorchScript-based exporter writes.
ONNX_TORCHSCRIPT_MAX_OPSET = _torchscript_max_opset()


def torch_version() -> Tuple[int, int]:
    """``(major, minor)`` of the running torch, for messages and skip reasons."""
    major, minor = torch.__version__.split('+')[0].split('.')[:2]
    return int(major), int(minor)


def is_compiling() -> bool:
    """Whether the caller is being traced by ``torch.compile`` (dynamo)."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    try:
        from torch._dynamo import is_compiling as dynamo_is_compiling
    except ImportError:  # pragma: no cover - every supported torch has dynamo
        return False
    return dynamo_is_compiling()


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast casts to on ``device_type`` (``'cpu'``, ``'cuda'``), or
    None where autocast is off there."""
    if _AUTOCAST_TAKES_DEVICE:
        try:
            if not torch.is_autocast_enabled(device_type):
                return None
        except RuntimeError:  # a device type without autocast ('meta')
            return None
        return torch.get_autocast_dtype(device_type)
    if device_type == 'cpu':
        return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    if device_type == 'cuda':
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None
    return None


def _autocast_takes_device() -> bool:
    if not hasattr(torch, 'get_autocast_dtype'):
        return False
    try:
        torch.is_autocast_enabled('cpu')
    except TypeError:
        return False
    return True


_AUTOCAST_TAKES_DEVICE = _autocast_takes_device()


@contextlib.contextmanager
def sdpa_backends(*names: str) -> Iterator[None]:
    """Let scaled-dot-product attention use only the kernels ``names`` (of
    :data:`SDPA_BACKENDS`) inside: a call that none of them takes raises
    instead of silently running another kernel.

    ``torch.nn.attention.sdpa_kernel`` where torch has it, else the flags of
    ``torch.backends.cuda.sdp_kernel`` (which the CPU's flash kernel obeys
    too); cuDNN attention, absent there, is then never enabled.
    """
    unknown = set(names) - set(SDPA_BACKENDS)
    if unknown or not names:
        raise ValueError(f'sdpa_backends takes names of {SDPA_BACKENDS}, got {names}')
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        flags = dict(enable_flash='flash' in names, enable_mem_efficient='efficient' in names,
                     enable_math='math' in names)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            context = torch.backends.cuda.sdp_kernel(**flags)
        with context:
            yield
        return
    kernels = {'flash': 'FLASH_ATTENTION', 'efficient': 'EFFICIENT_ATTENTION',
               'cudnn': 'CUDNN_ATTENTION', 'math': 'MATH'}
    chosen = [getattr(SDPBackend, kernels[name]) for name in names
              if hasattr(SDPBackend, kernels[name])]
    with sdpa_kernel(chosen):
        yield


_cpu_flash_dtypes: List[Tuple[torch.dtype, ...]] = []


def cpu_flash_dtypes() -> Tuple[torch.dtype, ...]:
    """The dtypes for which this torch has a fused (flash) attention kernel on
    the CPU, found by running it once on a tiny input of each (the first call;
    later ones, traced ones too, read the result)."""
    if _cpu_flash_dtypes:
        return _cpu_flash_dtypes[0]
    found = []
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        query = torch.zeros(1, 1, 2, 8, dtype=dtype)
        try:
            with sdpa_backends('flash'), warnings.catch_warnings():
                warnings.simplefilter('ignore')  # torch warns why a kernel declines
                F.scaled_dot_product_attention(query, query, query, scale=1.0)
        except RuntimeError:
            continue
        found.append(dtype)
    _cpu_flash_dtypes.append(tuple(found))
    return _cpu_flash_dtypes[0]


def cuda_sdpa_checks(query: torch.Tensor, key: torch.Tensor
                     ) -> Optional[Tuple[object, List[Callable]]]:
    """``(params, checks)`` to ask which CUDA kernel takes
    ``scaled_dot_product_attention(query, key, query)``: each check is called as
    ``check(params, debug)``. None where this torch cannot tell in advance
    (no ``torch.backends.cuda.SDPAParams``: torch < 2.3)."""
    cuda = torch.backends.cuda
    if not hasattr(cuda, 'SDPAParams'):
        return None
    names: Sequence[str] = ('can_use_flash_attention', 'can_use_efficient_attention',
                            'can_use_cudnn_attention')
    checks = [getattr(cuda, name) for name in names if hasattr(cuda, name)]
    try:  # torch >= 2.5 adds enable_gqa
        params = cuda.SDPAParams(query, key, query, None, 0.0, False, False)
    except TypeError:
        params = cuda.SDPAParams(query, key, query, None, 0.0, False)
    return params, checks
