# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Runner hooks: safe interruption and resumption, checked checkpoints and
losses, norm statistics kept equal across the ranks of a CPU run, and
attention pictures sent to the Visualizer."""
from .hooks import (
                    AttentionVisualizationHook,
                    CheckpointShapeHook,
                    CheckpointShapeMismatchError,
                    FiniteLossHook,
                    NonFiniteLossError,
                    NonFiniteWeightsError,
                    RNGStateHook,
                    SyncNormBuffersHook,
)

__all__ = [
    'AttentionVisualizationHook', 'CheckpointShapeHook', 'CheckpointShapeMismatchError',
    'FiniteLossHook', 'NonFiniteLossError', 'NonFiniteWeightsError', 'RNGStateHook',
    'SyncNormBuffersHook'
]
