# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Evaluate a deployed segmentor on the config's test dataset, as tools/test.py does.

MODEL is an ``.onnx`` file (fp32 or INT8, run in ONNX Runtime) or a checkpoint
(run on the PyTorch fast path at ``--precision``). The config's own test
pipeline, data preprocessor, whole-image or sliding-window inference and
evaluator (mmseg's ``IoUMetric`` or what the config names) are used, so the
table and the ``mIoU`` line are those of ``tools/test.py`` with the
checkpoint (mmseg_attn.deployment.evaluation).

Examples::

    python tools/deployment/deploy_test.py CONFIG model.onnx
    python tools/deployment/deploy_test.py CONFIG model_int8.onnx --out-dir work_dirs/int8
    python tools/deployment/deploy_test.py CONFIG iter_40000.pth --precision bf16
"""
import argparse
import json
import numbers
import os.path as osp
import sys

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.deployment import PRECISIONS, OnnxModelError, deployed_segmentor, evaluate
from mmseg_attn.security import atomic_write_text
from mmseg_attn.utils.config import add_cfg_options, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a deployed segmentor on the test '
                                     "dataset of a config (tools/test.py's metrics)")
    parser.add_argument('config', help='config file')
    parser.add_argument('model', help='.onnx file, or a checkpoint')
    parser.add_argument('--precision', choices=tuple(PRECISIONS), default='fp32',
                        help='a checkpoint: autocast precision of the fast path '
                        '(bf16 on the CPU and CUDA, fp16 on CUDA)')
    parser.add_argument('--device', default='cpu', help='a checkpoint: cpu or cuda')
    parser.add_argument('--threads', type=int, help='ONNX Runtime threads')
    parser.add_argument('--out-dir', help='logs and metrics.json (default: '
                        'work_dirs/deploy_test/<model name>)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join('work_dirs', 'deploy_test',
                                       osp.splitext(osp.basename(args.model))[0])
    try:
        cfg = load_config(args.config, args.cfg_options)
        model = deployed_segmentor(cfg, args.model, args.precision, args.device, args.threads)
        metrics = evaluate(cfg, model, out_dir, progress=not args.no_progress)
    except (OSError, OnnxModelError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real)}
    atomic_write_text(json.dumps(dict(config=args.config, model=args.model,
                                      precision=args.precision, metrics=metrics), indent=2),
                      osp.join(out_dir, 'metrics.json'))
    print(f'{args.model}: ' + ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
