# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Export an mmseg segmentor to ONNX (and check it in ONNX Runtime).

The input of the exported model is the normalised ``(N, 3, H, W)`` float
tensor that the config's data preprocessor produces (mean, std and channel
order are written into the model's metadata); the output is the logits
resized to the input size as mmseg's postprocessing resizes them
(``(N, K, H, W)``) or, with ``--output argmax``, the int64 labels
``(N, H, W)``. Pretrained-weight entries of the config are not downloaded
(the checkpoint holds the weights; without one the weights are random) and
SyncBN becomes BN. See docs/deployment.md.

Examples::

    python tools/deployment/pytorch2onnx.py \\
        configs/bisenet/bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py \\
        --checkpoint work_dirs/.../iter_160000.pth --output-file bisenet.onnx \\
        --shape 1024 2048 --verify
    python tools/deployment/pytorch2onnx.py CONFIG --output-file model.onnx \\
        --dynamic-export --output argmax --verify
"""
import argparse
import json
import sys

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.apis import build_segmentor
from mmseg_attn.deployment import (
    DEFAULT_OPSET,
    MAX_EXPORT_PIXELS,
    MAX_EXPORT_SIDE,
    OUTPUT_TYPES,
    ExportError,
    check_shape,
    export_onnx,
    verify_onnx,
)
from mmseg_attn.utils.config import add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export an mmseg segmentor to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint file (default: random weights)')
    parser.add_argument('--output-file', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 1024], metavar=('H', 'W'),
                        help='input height and width (default: 512 1024)')
    parser.add_argument('--dynamic-export', action='store_true',
                        help='make the input height and width dynamic')
    parser.add_argument('--output', default='logits', choices=OUTPUT_TYPES,
                        help='logits (N, K, H, W) or int64 labels (N, H, W) (default: logits)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset version (default: {DEFAULT_OPSET})')
    parser.add_argument('--max-pixels', type=int, default=MAX_EXPORT_PIXELS,
                        help=f'refuse a larger --shape (H x W; default {MAX_EXPORT_PIXELS:,}, '
                        f'at most {MAX_EXPORT_SIDE} a side)')
    parser.add_argument('--verify', action='store_true',
                        help='compare ONNX Runtime with PyTorch on random input (at a second '
                        'shape too with --dynamic-export); fails above a relative difference '
                        'of 1e-4')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def second_shape(shape):
    """Another size for checking a dynamic export: 3/4 of each side, rounded to 8."""
    return tuple(max(8, (s * 3 // 4) // 8 * 8) if s >= 16 else s + 3 for s in shape)


def main(argv=None):
    args = parse_args(argv)
    try:
        shape = check_shape(tuple(args.shape), '--shape', args.max_pixels)
        model = build_segmentor(args.config, args.checkpoint, 'cpu', args.cfg_options)
        meta = export_onnx(model, args.output_file, shape, args.dynamic_export, args.output,
                           args.opset, max_pixels=args.max_pixels)
        print(f'Exported {args.config} to {args.output_file} (input 1 x 3 x {shape[0]} x '
              f'{shape[1]}{", dynamic height and width" if args.dynamic_export else ""}, '
              f'output {args.output}, opset {args.opset})')
        if meta.get('test_mode', 'whole') != 'whole':
            print(f'Note: the config infers with test_cfg mode={meta["test_mode"]!r}; the '
                  'exported graph runs the whole input at once (tile large images yourself)')
        if args.dynamic_export and not args.verify:
            print('Note: add --verify to check the dynamic model at a second shape')
        if args.verify:
            shapes = [shape] + ([second_shape(shape)] if args.dynamic_export else [])
            for report in verify_onnx(args.output_file, model, shapes):
                h, w = report['shape']
                if report['output'] == 'logits':
                    print(f'Verified at {h} x {w}: relative difference of the logits '
                          f'{report["rel_diff"]:.2e} (<= 1e-4)')
                else:
                    print(f'Verified at {h} x {w}: labels equal on all {report["pixels"]} '
                          f'pixels ({report["ties"]} near-ties, {report["differing_ties"]} '
                          'of them broken differently)')
    except (ExportError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print('Metadata: ' + json.dumps({k: meta[k] for k in ('mean', 'std', 'bgr_to_rgb',
                                                          'num_classes')}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
