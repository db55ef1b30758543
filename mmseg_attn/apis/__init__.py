# Copyright (c) mmseg_attn contributors. All rights reserved.
from .cpu_dist import SyncNormBuffersHook, init_cpu_dist, is_cpu_distributed, setup_cpu_distributed

__all__ = [
    'SyncNormBuffersHook', 'init_cpu_dist', 'is_cpu_distributed', 'setup_cpu_distributed'
]
