# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Tiny, well-conditioned inputs and the comparison the block tests use."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['assert_same', 'features', 'run_both']


def features(n: int, c: int, h: int, w: int, dtype: torch.dtype = torch.float32,
             generator: torch.Generator = None) -> torch.Tensor:
    """Random features ``(n, c, h, w)`` whose channel means differ clearly between images.

    A norm on a pooled ``(N, C, 1, 1)`` map divides by the spread of the
    pooled values over the batch; with plain ``randn`` that spread is small
    and float32 rounding gets amplified past 1e-6. The per-image offsets keep
    such a comparison well conditioned.

    Args:
        n, c, h, w (int): The shape.
        dtype (torch.dtype): Defaults to float32.
        generator (torch.Generator, optional): Source of the values; the
            global generator by default.
    """
    return (torch.randn(n, c, h, w, dtype=dtype, generator=generator)
            + 2 * torch.randn(n, c, 1, 1, dtype=dtype, generator=generator))


def assert_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Same shape and dtype, and equal to 1e-6 in float32 / 1e-10 in float64.

    Raises:
        AssertionError: Naming what differs.
    """
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    tol = 1e-10 if actual.dtype == torch.float64 else 1e-6
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


def run_both(ref: nn.Module, block: nn.Module, inputs: Sequence[torch.Tensor],
             training: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(block(*inputs), ref(*inputs))`` with both in train or eval mode."""
    ref.train(training)
    block.train(training)
    return block(*inputs), ref(*inputs)
