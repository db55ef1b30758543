# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Deployment: ONNX export and verification, ONNX Runtime, the PyTorch inference fast path.

``onnx``, ``onnxscript`` and ``onnxruntime`` are imported only by the
functions that need them.
"""
from . import onnx_export, optimize, runtime, wrapper
from .onnx_export import *  # noqa: F401,F403
from .optimize import *  # noqa: F401,F403
from .runtime import *  # noqa: F401,F403
from .wrapper import *  # noqa: F401,F403

# every public name of the modules (ExportError is in two of them)
__all__ = sorted({*onnx_export.__all__, *optimize.__all__, *runtime.__all__, *wrapper.__all__})
