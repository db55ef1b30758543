# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Deployment: ONNX export and verification, ONNX Runtime, INT8 quantization, the
PyTorch inference fast path (bf16/fp16 too), and the accuracy of a deployed model.

``onnx``, ``onnxscript`` and ``onnxruntime`` are imported only by the
functions that need them.
"""
from . import evaluation, metadata, onnx_export, optimize, quantize, runtime, wrapper
from .evaluation import *  # noqa: F401,F403
from .metadata import *  # noqa: F401,F403
from .onnx_export import *  # noqa: F401,F403
from .optimize import *  # noqa: F401,F403
from .quantize import *  # noqa: F401,F403
from .runtime import *  # noqa: F401,F403
from .wrapper import *  # noqa: F401,F403

# every public name of the modules (ExportError is in two of them)
__all__ = sorted({*evaluation.__all__, *metadata.__all__, *onnx_export.__all__, *optimize.__all__,
                  *quantize.__all__, *runtime.__all__, *wrapper.__all__})
