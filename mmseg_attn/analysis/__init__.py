# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Measurement: FLOPs, latency and peak memory, one convention and one method each.

- :mod:`.flops`: FLOPs per module with :class:`torch.utils.flop_counter.FlopCounterMode`;
  1 multiply-add = 2 FLOPs everywhere, MACs labelled as such.
- :mod:`.timing`: :func:`time_interleaved` (warm-up, rotating order, medians
  and paired ratios), :func:`time_inference` (a segmentor batch by batch) and
  :func:`gemm_peak_gflops` (the matrix-product ceiling of the machine).
- :mod:`.memory`: :func:`peak_memory` (CUDA allocator peak; CPU resident
  high-water mark) and :func:`peak_memory_in_fresh_process`, the method of
  the benchmark tools' memory figures.
"""
from .flops import (
    FLOPS_CONVENTION,
    ModuleCost,
    costs_as_dicts,
    count_flops,
    format_cost_table,
    format_count,
    module_costs,
)
from .memory import ResidentPeak, peak_memory, peak_memory_in_fresh_process
from .timing import TimingResult, gemm_peak_gflops, time_inference, time_interleaved

__all__ = [
    'FLOPS_CONVENTION', 'ModuleCost', 'ResidentPeak', 'TimingResult', 'costs_as_dicts',
    'count_flops', 'format_cost_table', 'format_count', 'gemm_peak_gflops', 'module_costs',
    'peak_memory',
    'peak_memory_in_fresh_process', 'time_inference', 'time_interleaved'
]
