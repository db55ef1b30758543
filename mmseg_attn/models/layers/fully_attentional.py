# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Fully Attentional block of FLANet (Song et al., AAAI 2022, arXiv 2112.04108)."""
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from mmseg_attn.utils.torch_compat import cpu_flash_dtypes

from .fla_kernels import (
    SharedKeyAttention,
    compute_dtype,
    cuda_unsupported,
    fused_unsupported,
    head_dim_padding,
    shared_key,
    sparing_backward_applies,
    unit_last_stride,
)
from .utils import check_channels, check_choice, check_input, check_int

__all__ = ['AttentionProbe', 'FullyAttentionalBlock']



class AttentionProbe(nn.Module):
    """Probe point of the explicit FLA attention maps.

    :class:`FullyAttentionalBlock` calls it, with the maps computed
    explicitly, only while a forward hook is registered on it; otherwise the
    maps are never formed. Its forward returns its inputs unchanged, so a
    forward hook sees them as both ``args`` and ``output``.
    """

    def forward(self, col_attention: Tensor, row_attention: Tensor) -> Tuple[Tensor, Tensor]:
        """Return ``(col_attention, row_attention)`` unchanged.

        Args:
            col_attention (Tensor): ``(N, W, C, C)``: the softmax attention
                of each column with the row priors.
            row_attention (Tensor): ``(N, H, C, C)``: the softmax attention
                of each row with the column priors.
        """
        return col_attention, row_attention


@MODELS.register_module()
class FullyAttentionalBlock(BaseModule):
    """Fully Attentional (FLA) block of FLANet.

    This block is an implementation of the FLA block of `Fully Attentional
    Network for Semantic Segmentation <https://arxiv.org/abs/2112.04108>`_.
    Every column (and every row) builds one ``C x C`` channel affinity from
    its own features and the priors of all rows (columns), so channel
    attention is computed with spatial context in a single map.

    With ``x[:, :, h, w]`` the feature vector of a position,
    ``P_h = W_h mean_w(x)`` (one prior per row, ``(H, C)``) and
    ``P_w = W_w mean_h(x)`` (one per column, ``(W, C)``):

    .. math::

        A^{col}_w = \\mathrm{softmax}(X_{:, :, w} P_h), \\quad
        A^{row}_h = \\mathrm{softmax}(X_{:, h, :} P_w), \\\\
        F_{:, h, w} = A^{col}_w X_{:, h, w} + A^{row}_h X_{:, h, w}, \\quad
        y = \\mathrm{ConvNormAct}_{3 \\times 3}(\\gamma F + x)

    where ``X_{:, :, w}`` is the ``C x H`` slice of column ``w``, the
    softmax runs over the last axis of each ``C x C`` energy, and
    ``gamma`` is a learnt scalar initialised to 0. Shapes: ``x`` and ``y``
    are ``(N, C, H, W)``, the attentions ``(N, W, C, C)`` and
    ``(N, H, C, C)``.

    Each branch is scaled-dot-product attention with the channels as
    tokens: for the columns, queries and values are the ``(N, W, C, H)``
    slices (``W`` heads of ``C`` tokens, head dim ``H``), the keys are the
    row priors ``P_h^T`` shared by the heads, and the scale is 1; the rows
    likewise with ``(N, H, C, W)`` slices and ``P_w^T``. ``impl`` picks how
    that attention is computed; every path gives the same result:

    - ``'fused'``: :func:`torch.nn.functional.scaled_dot_product_attention`
      on fused kernels that never hold the ``C x C`` energies, in forward
      and backward: flash attention on the CPU (float32, float64,
      bfloat16, and float16 where torch has it: see
      :func:`~mmseg_attn.utils.torch_compat.cpu_flash_dtypes`); flash,
      memory-efficient or cuDNN attention on CUDA (the head dim is
      zero-padded to a multiple of 4, or 8 in half precision, for the
      memory-efficient kernel: exact, zeros add nothing to the energies and
      the padded output columns are cut off). Raises a ValueError naming
      the reason when no fused kernel applies.
    - ``'chunked'``: explicit energies, ``chunk_size`` rows/columns at a
      time, softmax in place when no gradient is recorded.
    - ``'math'``: the explicit formula, all energies at once.
    - ``'auto'``: ``'fused'`` wherever a fused kernel applies to the
      device, dtype and shape, else ``'chunked'``; except that in float32
      and float64 on the CPU the backward is a sparing one: the flash
      kernel's backward forms the gradients of queries, keys and values of
      every slice (five matrix products per slice), where the keys are the
      shared priors and queries and values need one only when the input
      does. It recomputes the attention a few slices at a time (``chunk_size``
      slices, by default those of 4 MiB of ``C x C`` attention) and forms
      only the gradients asked for: three products per slice for the
      priors, two more for the input.

    Around the kernel, memory stays near the input size: the column slices
    are copied one channel at a time (a transpose per channel), the branch
    outputs go one after the other into a single buffer in the input's
    layout, which the conv reads as it is. Its measured speed and memory
    against the reference formulation are in ``docs/blocks.md``; the kernels
    are in :mod:`.fla_kernels`. An ONNX export writes the explicit formula.

    The attention maps are formed only when asked for:
    :meth:`attention_maps` computes them, and the forward passes them to
    :attr:`attention_probe` while a forward hook is registered on it.

    Deliberate departures from the reference code:

    - The reference pairs each column of the batch with
      ``encode_h.repeat(width, 1, 1)``, i.e. with the priors of image
      ``i mod N`` instead of its own image whenever ``N > 1``. Here each
      image uses its own priors, so a batch gives exactly the per-image
      results stacked (for ``N = 1`` both agree).
    - The priors are never copied per row or column (the fused kernels
      broadcast them over the heads; the explicit paths use one matrix
      product ``(W * C, H) @ (H, C)`` per image).
    - In training the output is a copy of the activation's result, so that
      callers may change it in place (mmseg's ``Bottleneck`` does so with
      plugin outputs).

    Weights port from the reference with ``conv.0.weight ->
    conv.conv.weight`` and ``conv.1.* -> conv.bn.*``; ``conv1`` (row
    priors), ``conv2`` (column priors) and ``gamma`` keep their names.

    Args:
        in_channels (int): Channels of the input (and output).
        conv_cfg (dict, optional): Config of the output conv.
            Defaults to None.
        norm_cfg (dict): Norm of the output conv. Defaults to dict(type='BN').
        act_cfg (dict): Activation of the output conv.
            Defaults to dict(type='ReLU').
        chunk_size (int, optional): Number of columns (rows) whose ``C x C``
            energies are computed at once by the ``'chunked'`` path (and
            ``'auto'`` where it falls back to it; None: all at once) and by
            the sparing CPU backward of ``'auto'`` (None: those of 4 MiB).
            The result does not depend on it. Defaults to None.
        impl (str): How the attention is computed: ``'auto'``, ``'fused'``,
            ``'chunked'`` or ``'math'`` (see above). Defaults to 'auto'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'fla'
    #: What :attr:`attention_probe` sees: row and column attention.
    attention_kind = 'fla'
    num_inputs = 1
    IMPLS = ('auto', 'fused', 'chunked', 'math')

    def __init__(self,
                 in_channels: int,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 chunk_size: Optional[int] = None,
                 impl: str = 'auto',
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_channels(in_channels)
        self.chunk_size = None if chunk_size is None else check_int(chunk_size, 'chunk_size')
        self.impl = check_choice(impl, self.IMPLS, 'impl')
        self.conv1 = nn.Linear(in_channels, in_channels)
        self.conv2 = nn.Linear(in_channels, in_channels)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.conv = ConvModule(
            in_channels,
            in_channels,
            3,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.attention_probe = AttentionProbe()
        cpu_flash_dtypes()  # found once, outside any traced forward

    # ------------------------------------------------------------------
    # the pieces of the formula
    # ------------------------------------------------------------------

    def _check_size(self, x: Tensor) -> None:
        check_input(self, x)
        if x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(
                f'{type(self).__name__} needs a feature map of at least 1 x 1, got H x W = '
                f'{x.shape[2]} x {x.shape[3]} (input of shape {tuple(x.shape)}); give the '
                'model larger images or downsample them less before this block')

    def _priors(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``P_h`` ``(N, H, C)``, one per row, and ``P_w`` ``(N, W, C)``."""
        return (self.conv1(x.mean(dim=3).transpose(1, 2)),
                self.conv2(x.mean(dim=2).transpose(1, 2)))

    @staticmethod
    def _columns(x: Tensor) -> Tensor:
        """The ``(N, W, C, H)`` column slices of ``x`` (a view)."""
        return x.permute(0, 3, 1, 2)

    @staticmethod
    def _rows(x: Tensor) -> Tensor:
        """The ``(N, H, C, W)`` row slices of ``x`` (a view)."""
        return x.permute(0, 2, 1, 3)

    @staticmethod
    def _energy(feat: Tensor, prior: Tensor) -> Tensor:
        """``feat @ prior`` per slice, one product per image (no prior copies).

        Args:
            feat (Tensor): ``(N, L, C, K)``: ``L`` slices of ``C x K``.
            prior (Tensor): ``(N, K, C)``: one prior per position along a
                slice.

        Returns:
            Tensor: ``(N, L, C, C)`` energies.
        """
        n, length, c, k = feat.shape
        return torch.bmm(feat.reshape(n, length * c, k), prior).view(n, length, c, c)

    @staticmethod
    def _softmax(energy: Tensor) -> Tensor:
        """Softmax over the last axis; in place when no gradient is needed."""
        if torch.is_grad_enabled() or energy.dtype not in (torch.float32, torch.float64):
            return energy.softmax(dim=-1)
        energy -= energy.amax(dim=-1, keepdim=True)
        energy.exp_()
        energy /= energy.sum(dim=-1, keepdim=True)
        return energy

    def attention_maps(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """The column and row attentions of ``x``, formed explicitly.

        This is what every ``impl`` computes; the fused kernels never hold
        it. It costs ``(H + W) x C x C`` entries per image.

        Args:
            x (Tensor): ``(N, C, H, W)`` input of the block.

        Returns:
            tuple[Tensor, Tensor]: ``col_attention`` ``(N, W, C, C)`` and
            ``row_attention`` ``(N, H, C, C)``, softmax over the last axis.
        """
        self._check_size(x)
        prior_h, prior_w = self._priors(x)
        return (self._energy(self._columns(x), prior_h).softmax(dim=-1),
                self._energy(self._rows(x), prior_w).softmax(dim=-1))

    # ------------------------------------------------------------------
    # the attention ``softmax(feat @ prior) @ feat`` of one branch:
    # feat (N, L, C, K) slices, any strides; prior (N, K, C) -> (N, L, C, K)
    # ------------------------------------------------------------------

    def _attend_math(self, feat: Tensor, prior: Tensor) -> Tensor:
        return torch.matmul(self._energy(feat, prior).softmax(dim=-1), feat)

    def _attend_chunked(self, feat: Tensor, prior: Tensor) -> Tensor:
        n, length, c, k = feat.shape
        step = length if self.chunk_size is None else self.chunk_size
        outs = []
        for start in range(0, length, step):
            part = feat[:, start:start + step].contiguous()
            parts = part.shape[1]
            attention = self._softmax(self._energy(part, prior).view(n * parts, c, c))
            outs.append(torch.bmm(attention, part.view(n * parts, c, k)).view(n, parts, c, k))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _attend_fused(self, feat: Tensor, prior: Tensor, strict: bool = True) -> Tensor:
        length, k = feat.shape[1], feat.shape[3]
        dtype = compute_dtype(feat, prior)
        reason = fused_unsupported(feat.device, dtype)
        if reason is None:
            # the kernels want the last dim of q, k, v contiguous (else the
            # dispatcher silently takes the math path) and k with v's heads
            pad = head_dim_padding(feat.device, dtype, k)
            query = F.pad(feat.to(dtype), (0, pad)) if pad else unit_last_stride(feat, dtype)
            prior = prior.to(dtype)
            if feat.device.type == 'cuda':
                reason = cuda_unsupported(query, shared_key(prior, length, pad))
        if reason is not None:
            if strict:
                raise ValueError(f"{type(self).__name__}(impl='fused'): no fused attention "
                                 f'kernel applies: {reason}; use impl=\'auto\' or '
                                 '\'chunked\' there')
            return self._attend_chunked(feat, prior)
        if self.impl == 'auto' and sparing_backward_applies(query, prior):
            return SharedKeyAttention.apply(query, prior, self.chunk_size)
        key = shared_key(prior, length, pad)
        out = F.scaled_dot_product_attention(query, key, query, scale=1.0)
        return out[..., :k] if pad else out

    def _attention_fn(self) -> Callable[[Tensor, Tensor], Tensor]:
        # an ONNX export writes the explicit formula (MatMul, Softmax, MatMul),
        # which is what the exporters make of SDPA too (torch 2.1's cannot
        # export SDPA with a scale)
        if self.impl == 'math' or torch.onnx.is_in_onnx_export():
            return self._attend_math
        if self.impl == 'chunked':
            return self._attend_chunked
        if self.impl == 'fused':
            return self._attend_fused
        return lambda feat, prior: self._attend_fused(feat, prior, strict=False)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function: ``(N, C, H, W) -> (N, C, H, W)``."""
        self._check_size(x)
        if self.attention_probe._forward_hooks:
            self.attention_probe(*self.attention_maps(x))
        attend = self._attention_fn()
        prior_h, prior_w = self._priors(x)
        # A_col X: each (C, H) column against the row priors, (N, W, C, H);
        # its permuted copy is released on return
        col = attend(self._columns(x), prior_h)
        # A_row X: each (C, W) row against the column priors, (N, H, C, W)
        row = attend(self._rows(x), prior_w)
        # y_in = x + gamma * (A_row X + A_col X), one branch at a time into a
        # buffer in x's layout (the conv's): no sum of the branches in either
        # branch's layout, no copy before the conv
        out = torch.addcmul(x, self.gamma, row.permute(0, 2, 1, 3))
        del row
        out.addcmul_(self.gamma, col.permute(0, 2, 3, 1))
        del col
        out = self.conv(out)
        # The activation's output is saved for its backward; callers such as
        # mmseg's Bottleneck add to a plugin's output in place, so hand them a
        # copy whenever a graph is being recorded.
        return out.clone() if out.requires_grad else out
