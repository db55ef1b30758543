# Copyright (c) mmseg_attn contributors. All rights reserved.
"""User-facing helpers: build a segmentor for inference, mmseg's inferencer for our configs,
random inputs, CPU-distributed setup.

Measurement (FLOPs, timing, peak memory) lives in :mod:`mmseg_attn.analysis`;
its names, formerly importable from here, still resolve with a
``DeprecationWarning``.
"""
import warnings

from .cpu_dist import SyncNormBuffersHook, init_cpu_dist, is_cpu_distributed, setup_cpu_distributed
from .inference import build_segmentor, load_config, random_batch
from .inferencer import SegInferencer

__all__ = [
    'SegInferencer', 'SyncNormBuffersHook', 'build_segmentor', 'init_cpu_dist',
    'is_cpu_distributed', 'load_config', 'random_batch', 'setup_cpu_distributed'
]

_MOVED_TO_ANALYSIS = ('ModuleCost', 'costs_as_dicts', 'count_flops', 'format_cost_table',
                      'format_count', 'module_costs', 'time_inference')


def __getattr__(name):
    if name in _MOVED_TO_ANALYSIS:
        warnings.warn(f'mmseg_attn.apis.{name} moved to mmseg_attn.analysis.{name}',
                      DeprecationWarning, stacklevel=2)
        from mmseg_attn import analysis
        return getattr(analysis, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
