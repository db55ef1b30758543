# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Measurement: FLOPs, latency and peak memory, one convention and one method each,
and the comparisons built on them.

- :mod:`.flops`: FLOPs per module with :class:`torch.utils.flop_counter.FlopCounterMode`;
  1 multiply-add = 2 FLOPs everywhere, MACs labelled as such.
- :mod:`.timing`: :func:`time_interleaved` (warm-up, rotating order, medians
  and paired ratios), :func:`time_inference` (a segmentor batch by batch) and
  :func:`gemm_peak_gflops` (the matrix-product ceiling of the machine).
- :mod:`.memory`: :func:`peak_memory` (CUDA allocator peak; CPU resident
  high-water mark) and :func:`peak_memory_in_fresh_process`, the method of
  the benchmark tools' memory figures.
- :mod:`.compare`: the comparison harness (candidates timed interleaved
  against a baseline, outputs checked); :mod:`.report`: the table writer.
- :mod:`.block_benchmark`, :mod:`.head_benchmark`, :mod:`.cost_table`: the
  benchmarks of ``tools/analysis_tools/benchmark.py`` and ``get_flops.py``.
"""
from .compare import Compared, as_array, compare, relative_difference
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
from .report import markdown_table, value_ratio
from .timing import TimingResult, gemm_peak_gflops, time_inference, time_interleaved

__all__ = [
    'Compared', 'FLOPS_CONVENTION', 'ModuleCost', 'ResidentPeak', 'TimingResult', 'as_array',
    'compare', 'costs_as_dicts', 'count_flops', 'format_cost_table', 'format_count',
    'gemm_peak_gflops', 'markdown_table', 'module_costs', 'peak_memory',
    'peak_memory_in_fresh_process', 'relative_difference', 'time_inference', 'time_interleaved',
    'value_ratio'
]
