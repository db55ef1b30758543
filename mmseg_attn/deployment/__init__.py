# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Deployment: ONNX export and verification, the PyTorch inference fast path.

``onnx``, ``onnxscript`` and ``onnxruntime`` are imported only by the
functions that need them.
"""
from .onnx_export import (
                          DEFAULT_OPSET,
                          build_metadata,
                          create_session,
                          export_onnx,
                          read_metadata,
                          relative_difference,
                          verify_onnx,
)
from .optimize import fuse_conv_bn, optimize_for_inference
from .wrapper import (
                          OUTPUT_TYPES,
                          ExportableAdaptiveAvgPool2d,
                          ExportableUpsample,
                          ExportError,
                          SegmentorExportWrapper,
                          prepare_for_export,
                          replace_adaptive_pools,
                          replace_upsamples,
)

__all__ = [
    'DEFAULT_OPSET', 'ExportError', 'ExportableAdaptiveAvgPool2d', 'ExportableUpsample',
    'OUTPUT_TYPES', 'SegmentorExportWrapper', 'build_metadata', 'create_session',
    'export_onnx', 'fuse_conv_bn', 'optimize_for_inference', 'prepare_for_export',
    'read_metadata', 'relative_difference', 'replace_adaptive_pools', 'replace_upsamples',
    'verify_onnx'
]
