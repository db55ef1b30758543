# Copyright (c) mmseg_attn contributors. All rights reserved.
from .attention_visualization_hook import AttentionVisualizationHook
from .checkpoint_shape_hook import CheckpointShapeHook, CheckpointShapeMismatchError
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError, NonFiniteWeightsError
from .graceful_stop_hook import GracefulStopHook
from .rng_state_hook import RNGStateHook
from .sync_norm_buffers_hook import SyncNormBuffersHook

__all__ = [
    'AttentionVisualizationHook', 'CheckpointShapeHook', 'CheckpointShapeMismatchError',
    'FiniteLossHook', 'GracefulStopHook', 'NonFiniteLossError', 'NonFiniteWeightsError',
    'RNGStateHook', 'SyncNormBuffersHook'
]
