# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Runner hooks that make long training runs safe to interrupt and resume."""
from .hooks import (
                    CheckpointShapeHook,
                    CheckpointShapeMismatchError,
                    FiniteLossHook,
                    NonFiniteLossError,
                    NonFiniteWeightsError,
                    RNGStateHook,
)

__all__ = [
    'CheckpointShapeHook', 'CheckpointShapeMismatchError', 'FiniteLossHook',
    'NonFiniteLossError', 'NonFiniteWeightsError', 'RNGStateHook'
]
