# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Every attention block against its reference implementation.

The references are those of :mod:`mmseg_attn.testing` with their known
defects fixed (FLA pairs each image with its own priors; iAFF uses its
second global branch), built next to the block with the same weights by
:func:`~mmseg_attn.testing.make_pair`; the largest output difference is
reported next to the figures, so both sides compute the same function.

For each block (a row): the latency of an inference forward (``fwd``:
``eval()``, ``no_grad``) and of a training step (``train``: forward and
backward of ``out.float().square().mean()``), ours and the reference timed
interleaved (:func:`~.comparison.compare`: medians and the median of the paired
ratios), and the extra peak memory of each, run as the first work of a fresh
process (:func:`~.memory.peak_memory_in_fresh_process`). Ratios are ours /
reference: below 1 is better. ``tools/analysis_tools/benchmark.py blocks``
is the command line.
"""
from typing import List, Optional, Sequence, Tuple

import torch

from mmseg_attn.testing import block_accepts, make_inputs, make_pair, make_step, pair_step

from .comparison import compare
from .memory import peak_memory_in_fresh_process
from .report import markdown_table, value_ratio

__all__ = ['FLA', 'FLA_SIZES', 'MODES', 'block_jobs', 'block_table', 'measure_block']

FLA = 'FullyAttentionalBlock'
#: Default extra FLA sizes: FLANet's head on a 512 x 1024 crop, and an odd one.
FLA_SIZES = ((2, 512, 64, 128), (1, 512, 97, 97))
MODES = ('fwd', 'train')


def block_jobs(names: Sequence[str], shape: Tuple[int, ...],
               fla_shapes: Sequence[Tuple[int, ...]] = FLA_SIZES,
               fla_impls: Optional[Sequence[str]] = None
               ) -> List[Tuple[str, Tuple[int, ...], dict]]:
    """``(block, shape, block kwargs)`` of every row: each block at ``shape``,
    FLA also at ``fla_shapes``, once per ``impl`` of ``fla_impls``."""
    rows = []
    for name in names:
        shapes, kwargs_list = [tuple(shape)], [{}]
        if name == FLA:
            shapes += [tuple(s) for s in fla_shapes if tuple(s) != tuple(shape)]
            if fla_impls and block_accepts(FLA, 'impl'):
                kwargs_list = [dict(impl=impl) for impl in fla_impls]
        rows += [(name, s, kwargs) for s in shapes for kwargs in kwargs_list]
    return rows


def _max_diff(ours, ref, inputs) -> float:
    ours.eval()
    ref.eval()
    with torch.no_grad():
        return (ours(*inputs) - ref(*inputs)).abs().max().item()


def measure_block(name: str, shape: Tuple[int, ...], block_kwargs: Optional[dict] = None,
                  device: torch.device = torch.device('cpu'), repeats: int = 10,
                  warmup: int = 2, clock: str = 'wall', memory: bool = True,
                  input_grad: bool = False) -> dict:
    """One row: the largest difference, then per mode the timings and the peaks.

    Returns:
        dict: ``block``, ``shape``, ``max_diff`` and per mode ``m`` of
        :data:`MODES`: ``ours_<m>_ms``, ``ref_<m>_ms``, ``<m>_ms_ratio``,
        ``ours_<m>_mb``, ``ref_<m>_mb`` (None without ``memory``).
    """
    block_kwargs = block_kwargs or {}
    ours, ref = make_pair(name, shape[1], device, **block_kwargs)
    inputs = make_inputs(name, shape, device)
    label = name + ''.join(f' ({k}={v})' for k, v in block_kwargs.items())
    row = dict(block=label, shape='x'.join(map(str, shape)), max_diff=_max_diff(ours, ref, inputs))
    for mode in MODES:
        steps = {side: make_step(module, inputs, mode, input_grad)
                 for side, module in (('ref', ref), ('ours', ours))}
        result = compare(steps, 'ref', repeats, warmup, device, clock)
        row[f'ours_{mode}_ms'] = result['ours'].median_ms
        row[f'ref_{mode}_ms'] = result['ref'].median_ms
        row[f'{mode}_ms_ratio'] = result['ours'].paired
    del ours, ref, inputs, steps
    for mode in MODES:
        for side in ('ours', 'ref'):
            peak = None
            if memory:
                peak = peak_memory_in_fresh_process(pair_step, name, shape, side, mode,
                                                    str(device), block_kwargs, input_grad,
                                                    device=device) / 2**20
            row[f'{side}_{mode}_mb'] = peak
    return row


def _cell(row: dict, mode: str, unit: str) -> str:
    ours, ref = row[f'ours_{mode}_{unit}'], row[f'ref_{mode}_{unit}']
    if ours is None:
        return '-'
    ratio = row[f'{mode}_ms_ratio'] if unit == 'ms' else (ours / ref if ref else float('nan'))
    return f'{ours:.1f} / {value_ratio(ref, ratio)}'


def block_table(rows: List[dict]) -> str:
    """The rows of :func:`measure_block` as a markdown table."""
    header = ['block', 'input (N x C x H x W)', 'max abs diff', 'fwd ms ours / ref (ratio)',
              'fwd peak MiB ours / ref (ratio)', 'train ms ours / ref (ratio)',
              'train peak MiB ours / ref (ratio)']
    return markdown_table(header, (
        [row['block'], row['shape'], f"{row['max_diff']:.1e}", _cell(row, 'fwd', 'ms'),
         _cell(row, 'fwd', 'mb'), _cell(row, 'train', 'ms'), _cell(row, 'train', 'mb')]
        for row in rows))
