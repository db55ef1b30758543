# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The kernels under the Fully Attentional block: which fused attention kernel
runs a branch, and the sparing CPU backward.

One FLA branch is ``softmax(Q P) Q`` with ``Q`` the ``(N, L, C, K)`` slices
of the input (queries and values) and ``P`` the ``(N, K, C)`` priors (one key
matrix shared by the ``L`` slices of an image). These helpers feed it to
:func:`torch.nn.functional.scaled_dot_product_attention` in the layout its
fused kernels take (else the dispatcher silently runs the math path), say why
no fused kernel applies to a device, dtype and shape, and implement
:class:`SharedKeyAttention`, the CPU float32/float64 training path.
"""
import warnings
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmseg_attn.utils.torch_compat import (
    autocast_dtype,
    cpu_flash_dtypes,
    cuda_sdpa_checks,
    is_compiling,
)

__all__ = [
    'SharedKeyAttention', 'compute_dtype', 'cuda_unsupported', 'dtype_names',
    'fused_unsupported', 'head_dim_padding', 'shared_key', 'sparing_backward_applies',
    'unit_last_stride'
]

#: dtypes whose CUDA attention kernels want the head dim a multiple of 8
#: (the others, float32, of 4).
_HALF_DTYPES = (torch.float16, torch.bfloat16)
#: dtypes whose CPU backward is :class:`SharedKeyAttention`'s (measured).
_SPARING_BACKWARD_DTYPES = (torch.float32, torch.float64)
#: Bytes of ``C x C`` attention per chunk of that backward (it holds two).
_BACKWARD_CHUNK_BYTES = 4 << 20


class SharedKeyAttention(torch.autograd.Function):
    """``softmax(Q P) Q`` of one FLA branch on the CPU, with a sparing backward.

    ``Q`` are ``(N, L, C, K)`` slices (queries and values, last stride 1),
    ``P`` the ``(N, K, C)`` priors: one key matrix shared by the ``L``
    slices of an image. The forward is PyTorch's flash kernel. Its backward
    forms the gradients of the queries, keys and values of every slice (five
    products per slice) and then sums the ``L`` key gradients. This backward
    recomputes the attention ``chunk`` slices at a time (None: those of
    ``_BACKWARD_CHUNK_BYTES``) and forms only the
    gradients asked for, with ``A = softmax(Q P)`` and
    ``dE = A * (dA - rowsum(dA * A))``:

    - the priors': ``dA = dO Q^T`` and ``dP += Q^T dE``, summed over the
      slices by the product itself: three products per slice with the
      recomputed energies;
    - the slices' (queries and values alike): ``dQ = dE P^T + A^T dO``, two
      more.

    Its workspace is two ``chunk x C x C`` buffers, whatever the map size.
    """

    @staticmethod
    def forward(ctx, query: Tensor, prior: Tensor, chunk: Optional[int]) -> Tensor:
        c = query.shape[2]
        ctx.save_for_backward(query, prior)
        ctx.chunk = chunk or max(1, _BACKWARD_CHUNK_BYTES // (c * c * query.element_size()))
        return F.scaled_dot_product_attention(
            query, shared_key(prior, query.shape[1]), query, scale=1.0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor], None]:
        query, prior = ctx.saved_tensors
        n, length, c, k = query.shape
        step = min(ctx.chunk, length)
        grad_out = unit_last_stride(grad_out, query.dtype)
        grad_query = torch.empty_like(query) if ctx.needs_input_grad[0] else None
        grad_prior = torch.zeros_like(prior) if ctx.needs_input_grad[1] else None
        q_buf, dq_buf = query.new_empty(step, c, k), query.new_empty(step, c, k)
        attn_buf, grad_buf = query.new_empty(step, c, c), query.new_empty(step, c, c)
        for i in range(n):
            for start in range(0, length, step):
                stop = min(start + step, length)
                rows = stop - start
                q, dq = q_buf[:rows], dq_buf[:rows]
                attn, grad = attn_buf[:rows], grad_buf[:rows]
                dout = grad_out[i, start:stop]
                q.copy_(query[i, start:stop])
                # A = softmax(Q P); dA = dO V^T; dE = softmax'(dA), each
                # softmax over whole rows, in place
                torch.matmul(q, prior[i], out=attn)
                torch.ops.aten._softmax.out(attn, -1, False, out=attn)
                torch.matmul(dout, q.transpose(1, 2), out=grad)
                torch.ops.aten._softmax_backward_data.out(
                    grad, attn, -1, attn.dtype, grad_input=grad)
                if grad_prior is not None:  # dP += Q^T dE over the chunk
                    grad_prior[i].addmm_(q.view(rows * c, k).t(), grad.view(rows * c, c))
                if grad_query is not None:  # dQ = dE P^T + A^T dO
                    torch.matmul(grad, prior[i].t(), out=dq)
                    dq.baddbmm_(attn.transpose(1, 2), dout)
                    grad_query[i, start:stop] = dq
        return grad_query, grad_prior, None


def shared_key(prior: Tensor, heads: int, pad: int = 0) -> Tensor:
    """The priors ``(N, K, C)`` as keys ``(N, heads, C, K + pad)``, last
    stride 1, expanded over the heads (never copied per head)."""
    key = prior.transpose(1, 2)
    key = F.pad(key, (0, pad)) if pad else key.contiguous()
    n, c, k = key.shape
    return key.unsqueeze(1).expand(n, heads, c, k)


def unit_last_stride(slices: Tensor, dtype: torch.dtype) -> Tensor:
    """``slices`` ``(N, L, C, K)`` in ``dtype`` with last stride 1.

    A copy is made in ``(N, C, L, K)`` order: for the columns of an NCHW map
    one transpose per channel, far cheaper than gathering the ``(C, K)``
    slices across channels.
    """
    if slices.dtype == dtype and slices.stride(-1) == 1:
        return slices
    return slices.transpose(1, 2).to(dtype).contiguous().transpose(1, 2)


def sparing_backward_applies(query: Tensor, prior: Tensor) -> bool:
    """Whether :class:`SharedKeyAttention` computes this branch (a CPU
    float32/float64 graph being recorded, head dim not padded; not while
    compiled or traced for export, which see the flash kernel)."""
    return (query.device.type == 'cpu' and query.dtype in _SPARING_BACKWARD_DTYPES
            and query.dtype == prior.dtype and query.shape[-1] == prior.shape[1]
            and torch.is_grad_enabled()
            and (query.requires_grad or prior.requires_grad)
            and not is_compiling() and not torch.jit.is_tracing())


def compute_dtype(feat: Tensor, prior: Tensor) -> torch.dtype:
    """The dtype the attention runs in: autocast's for float32 inputs."""
    cast = autocast_dtype(feat.device.type) if feat.dtype == torch.float32 else None
    if cast is not None:
        return cast
    # (torch 2.1's compiler cannot trace promote_types; the dtypes agree but
    # where a caller mixes them)
    return feat.dtype if feat.dtype == prior.dtype else torch.promote_types(feat.dtype,
                                                                             prior.dtype)


def fused_unsupported(device: torch.device, dtype: torch.dtype) -> Optional[str]:
    """Why no fused kernel can apply to ``device`` and ``dtype``, or None."""
    if device.type == 'cpu':
        if dtype not in cpu_flash_dtypes():
            return (f'torch {torch.__version__} has a fused CPU kernel for '
                    f'{dtype_names(cpu_flash_dtypes())}, not for {dtype}')
        # (the flag does not trace; compiled graphs leave the choice to torch)
        if not is_compiling() and not torch.backends.cuda.flash_sdp_enabled():
            return ('the flash kernel is switched off (torch.backends.cuda.enable_flash_sdp, '
                    'or torch.nn.attention.sdpa_kernel without FLASH_ATTENTION)')
        return None
    if device.type == 'cuda':
        return None  # decided on the actual tensors
    return f'PyTorch has no fused attention kernel for device type {device.type!r}'


def head_dim_padding(device: torch.device, dtype: torch.dtype, head_dim: int) -> int:
    """Zeros to append to the head dim for CUDA's memory-efficient kernel."""
    if device.type != 'cuda':
        return 0
    multiple = 8 if dtype in _HALF_DTYPES else 4
    return -head_dim % multiple


def cuda_unsupported(query: Tensor, key: Tensor) -> Optional[str]:
    """Why none of CUDA's fused kernels takes ``query``/``key``, or None."""
    asked = None if is_compiling() else cuda_sdpa_checks(query, key)
    if asked is None:
        # the compiler picks the kernel (the checks do not trace), or this
        # torch (< 2.3) cannot tell in advance: the choice is torch's
        return None
    params, checks = asked
    if any(check(params, False) for check in checks):
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for check in checks:
            check(params, True)
    reasons = '; '.join(str(w.message).strip() for w in caught)
    return (f'flash, memory-efficient and cuDNN attention all decline dtype {query.dtype}, '
            f'head dim {query.shape[-1]}: {reasons or "see torch.backends.cuda.can_use_*"}')


def dtype_names(dtypes) -> str:
    return ', '.join(str(d).replace('torch.', '') for d in dtypes)
