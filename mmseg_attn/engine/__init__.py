# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Runner hooks: safe interruption and resumption, checked checkpoints and
losses, and norm statistics kept equal across the ranks of a CPU run."""
from .hooks import (
                    CheckpointShapeHook,
                    CheckpointShapeMismatchError,
                    FiniteLossHook,
                    NonFiniteLossError,
                    NonFiniteWeightsError,
                    RNGStateHook,
                    SyncNormBuffersHook,
)

__all__ = [
    'CheckpointShapeHook', 'CheckpointShapeMismatchError', 'FiniteLossHook',
    'NonFiniteLossError', 'NonFiniteWeightsError', 'RNGStateHook', 'SyncNormBuffersHook'
]
