# Copyright (c) mmseg_attn contributors. All rights reserved.
"""FLOPs counted by hand (1 multiply-add = 2 FLOPs), to check the counter against."""

__all__ = ['conv_flops', 'fla_matmul_flops']


def conv_flops(n: int, c_in: int, c_out: int, h: int, w: int, kernel_size: int = 1) -> int:
    """FLOPs of a ``kernel_size`` conv without bias giving ``(n, c_out, h, w)``."""
    return n * 2 * c_in * kernel_size * kernel_size * c_out * h * w


def fla_matmul_flops(n: int, c: int, h: int, w: int) -> int:
    """Matrix products of a Fully Attentional block on ``(n, c, h, w)``.

    Per image, for each of the W columns: energy (C x H) @ (H x C) and
    aggregation (C x C) @ (C x H), each 2*C*C*H; the same for each of the H
    rows with W. The priors are two Linear(C, C) over the H row means and the
    W column means: 2*C*C*(H + W).
    """
    columns = w * (2 * c * h * c + 2 * c * c * h)
    rows = h * (2 * c * w * c + 2 * c * c * w)
    priors = 2 * c * c * h + 2 * c * c * w
    return n * (columns + rows + priors)
