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
- :mod:`.comparison`: the comparison harness (candidates timed interleaved
  against a baseline, outputs checked); :mod:`.report`: the table writer.
- :mod:`.block_benchmark`, :mod:`.head_benchmark`, :mod:`.cost_table`: the
  benchmarks of ``tools/analysis_tools/benchmark.py`` and ``get_flops.py``.
"""
from . import comparison, flops, memory, report, timing
from .comparison import *  # noqa: F401,F403
from .flops import *  # noqa: F401,F403
from .memory import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403
from .timing import *  # noqa: F401,F403

# every public name of the measurement modules; the benchmarks stay in their modules
__all__ = comparison.__all__ + flops.__all__ + memory.__all__ + report.__all__ + timing.__all__
