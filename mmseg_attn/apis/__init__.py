# Copyright (c) mmseg_attn contributors. All rights reserved.
from .analysis import (
                       ModuleCost,
                       build_segmentor,
                       costs_as_dicts,
                       count_flops,
                       format_cost_table,
                       format_count,
                       module_costs,
                       random_batch,
                       time_inference,
)
from .cpu_dist import SyncNormBuffersHook, init_cpu_dist, is_cpu_distributed, setup_cpu_distributed

__all__ = [
    'ModuleCost', 'SyncNormBuffersHook', 'build_segmentor', 'costs_as_dicts', 'count_flops',
    'format_cost_table', 'format_count', 'init_cpu_dist', 'is_cpu_distributed',
    'module_costs', 'random_batch', 'setup_cpu_distributed', 'time_inference'
]
