# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Build and load a segmentor (strictly), mmseg's inferencer for our configs,
random inputs, the CPU-distributed setup of ``tools/train.py`` and ``tools/test.py``.

Measurement (FLOPs, timing, peak memory) lives in :mod:`mmseg_attn.analysis`.
"""
from .checkpoint import CheckpointMismatchError, load_weights
from .cpu_dist import init_cpu_dist, is_cpu_distributed, setup_cpu_distributed
from .inference import build_segmentor, random_batch
from .inferencer import SegInferencer

__all__ = [
    'CheckpointMismatchError', 'SegInferencer', 'build_segmentor', 'init_cpu_dist',
    'is_cpu_distributed', 'load_weights', 'random_batch', 'setup_cpu_distributed'
]
