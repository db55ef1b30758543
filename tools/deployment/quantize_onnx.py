# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Quantize an exported segmentor to INT8 with ONNX Runtime, calibrated on its data.

Static quantization in the QDQ format (per-channel signed int8 weights,
unsigned int8 activations, ``quant_pre_process`` first), with the activation
ranges calibrated on ``--calib-samples`` images of the config's dataset
through the config's test pipeline and data preprocessor (the real
normalisation). The metadata of the float model is kept and records the
quantization; the weighted layers that stay float are listed
(mmseg_attn.deployment.quantize). Evaluate the result with
``tools/deployment/deploy_test.py``.

Example::

    python tools/deployment/quantize_onnx.py CONFIG model.onnx --output-file model_int8.onnx \\
        --calib-samples 32 --calib-split train
"""
import argparse
import sys

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.deployment import CALIBRATION_METHODS, OnnxModelError, quantize_onnx
from mmseg_attn.utils.config import add_cfg_options, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Quantize an exported segmentor to INT8 '
                                     '(ONNX Runtime, QDQ, calibrated on its dataset)')
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('model', help='the float .onnx model')
    parser.add_argument('--output-file', required=True, help='the INT8 .onnx model to write')
    parser.add_argument('--calib-samples', type=int, default=16,
                        help='calibration images (default: 16)')
    parser.add_argument('--calib-split', choices=('train', 'val', 'test'), default='val',
                        help='the dataset split they come from (default: val)')
    parser.add_argument('--method', choices=tuple(CALIBRATION_METHODS), default='minmax',
                        help='how activation ranges are calibrated (default: minmax)')
    add_cfg_options(parser, 'val_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        report = quantize_onnx(cfg, args.model, args.output_file, args.calib_samples,
                               args.calib_split, args.method)
    except (OSError, OnnxModelError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'Quantized {args.model} to {args.output_file}: {report["quantized_layers"]} weighted '
          f'layers in int8 (QDQ, {report["method"]} calibration on {report["calib_samples"]} '
          f'{report["calib_split"]} images)')
    if report['float_layers']:
        print(f'{len(report["float_layers"])} weighted layers stay float: '
              + ', '.join(report['float_layers']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
