# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Run an exported segmentor on an image in ONNX Runtime (or a checkpoint on the
PyTorch fast path, at a lower precision if asked).

The channel order, mean and std come from the model's metadata (written by
``tools/deployment/pytorch2onnx.py``; every value is checked first). The
model is fed at its input size (the export shape of a static model, the test
pipeline's resize for a dynamic one) and its prediction brought back to the
image's size a band of rows at a time, so memory stays bounded by the image
(:func:`mmseg_attn.deployment.segment_image`). Images above ``--max-pixels``
are refused from their header, before they are decoded. Two files are
written, atomically: the coloured prediction (``--out``) and the labels
(``--labels-out``, by default ``<out>_labels.png``; 8-bit, or 16-bit above
256 classes; PNG or TIFF: a lossy format would change the classes).

With ``--config``, ``MODEL`` is a checkpoint: it is loaded strictly into the
config's segmentor, which runs on the PyTorch fast path (BN folded,
channels-last) at ``--precision`` (``bf16`` on a CPU with AMX or
AVX512-BF16, ``fp16``/``bf16`` on CUDA) through mmseg's inferencer with the
config's test pipeline; the same two files are written.

Example::

    python tools/deployment/onnx_inference.py demo.png bisenet.onnx --out pred.png \\
        --palette cityscapes
    python tools/deployment/onnx_inference.py demo.png iter_400.pth --config CONFIG \\
        --precision bf16 --out pred.png
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np
import torch

from mmseg_attn.apis import CheckpointMismatchError
from mmseg_attn.deployment import (
    OnnxModelError,
    OrtSegmentor,
    read_metadata,
    segment_image,
    validate_metadata,
)
from mmseg_attn.security import atomic_write_bytes
from mmseg_attn.utils import generated_palette
from mmseg_attn.utils.config import load_config
from mmseg_attn.utils.image import MAX_IMAGE_PIXELS, ImageError, label_suffix_problem, load_image

#: what a ``MODEL`` without ``--config`` cannot be
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt')
PALETTES = {
    'cityscapes': 'CityscapesDataset',
    'ade20k': 'ADE20KDataset',
    'voc': 'PascalVOCDataset',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Segment an image with an ONNX model or a checkpoint')
    parser.add_argument('image', help='image file')
    parser.add_argument('model', help='.onnx file exported by pytorch2onnx.py, or a '
                        'checkpoint (with --config)')
    parser.add_argument('--config', help="a checkpoint's config")
    parser.add_argument('--precision', choices=('fp32', 'bf16', 'fp16'), default='fp32',
                        help='a checkpoint: autocast precision of the fast path (default fp32)')
    parser.add_argument('--device', default='cpu', help='a checkpoint: cpu or cuda')
    parser.add_argument('--out', required=True, help='coloured prediction (PNG, JPEG, ...)')
    parser.add_argument('--labels-out',
                        help='labels (PNG or TIFF; default: <out without suffix>_labels.png)')
    parser.add_argument('--palette', choices=sorted(PALETTES),
                        help='colours of a dataset (default: the palette in the metadata, '
                        "else mmseg's generated one)")
    parser.add_argument('--opacity', type=float, default=1.0,
                        help='weight of the colours over the image, 0 to 1 (default: 1, '
                        'colours only)')
    parser.add_argument('--max-pixels', type=int, default=MAX_IMAGE_PIXELS,
                        help='refuse larger images (height x width, read from the header; '
                        f'default: {MAX_IMAGE_PIXELS:,})')
    return parser.parse_args(argv)


def dataset_palette(name):
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return [tuple(c) for c in DATASETS.get(PALETTES[name]).METAINFO['palette']]


def get_palette(meta, name, num_classes):
    if name is not None:
        palette = dataset_palette(name)
    elif meta.get('palette'):
        palette = meta['palette']
    else:
        palette = generated_palette(num_classes)
    if len(palette) < num_classes:
        raise ValueError(f'the {name or "metadata"} palette has {len(palette)} colours, the '
                         f'model predicts {num_classes} classes')
    return np.array(palette, dtype=np.uint8)


def write_image(path: str, image: np.ndarray) -> None:
    """Encode by the file's suffix and write atomically."""
    suffix = osp.splitext(path)[1] or '.png'
    ok, data = cv2.imencode(suffix, image)
    if not ok:
        raise ValueError(f'cannot write an image to {path!r}: OpenCV writes no {suffix!r} files')
    atomic_write_bytes(data.tobytes(), path)


def segment_with_checkpoint(args, image: np.ndarray):
    """Labels ``(H, W)`` of the checkpoint's segmentor on the fast path at
    ``--precision``, and the metadata that names its classes."""
    from mmseg_attn.apis import SegInferencer
    from mmseg_attn.deployment import optimize_for_inference
    inferencer = SegInferencer(model=load_config(args.config), weights=args.model,
                               device=args.device, max_pixels=args.max_pixels)
    optimize_for_inference(inferencer.model, fuse_conv_bn=True, channels_last=True,
                           precision=args.precision)
    with torch.no_grad():
        labels = inferencer(image)['predictions']
    num_classes = inferencer.model.decode_head.num_classes
    dataset_meta = inferencer.model.dataset_meta or {}
    meta = dict(num_classes=num_classes, classes=dataset_meta.get('classes'),
                palette=dataset_meta.get('palette'))
    return labels.astype(np.uint8 if num_classes <= 256 else np.uint16), meta


def main(argv=None):
    args = parse_args(argv)
    if not 0 <= args.opacity <= 1:
        print(f'error: --opacity must be between 0 and 1, got {args.opacity}', file=sys.stderr)
        return 1
    labels_out = args.labels_out or osp.splitext(args.out)[0] + '_labels.png'
    problem = label_suffix_problem(labels_out)
    if problem:
        print(f'error: --labels-out: {problem}', file=sys.stderr)
        return 1
    onnx = args.config is None  # else a checkpoint
    if onnx and args.model.endswith(CHECKPOINT_SUFFIXES):
        print(f'error: {args.model!r}: a checkpoint needs its --config', file=sys.stderr)
        return 1
    if args.model.endswith('.onnx') and (
            not onnx or (args.precision, args.device) != ('fp32', 'cpu')):
        print(f'error: {args.model!r}: an .onnx model runs as it was exported (no --config, '
              '--precision or --device)', file=sys.stderr)
        return 1
    try:
        image = load_image(args.image, max_pixels=args.max_pixels)
        if onnx:
            model = OrtSegmentor(args.model)
            meta = validate_metadata(read_metadata(args.model), args.model, model.session)
            labels = segment_image(model, meta, image)
        else:
            labels, meta = segment_with_checkpoint(args, image)
        palette = get_palette(meta, args.palette, max(meta['num_classes'], 2))
    except (OSError, ImageError, OnnxModelError, CheckpointMismatchError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    colour = palette[labels][..., ::-1]  # RGB -> BGR
    if args.opacity < 1:
        colour = cv2.addWeighted(image, 1 - args.opacity, colour, args.opacity, 0)
    write_image(args.out, colour)
    write_image(labels_out, labels)
    present = np.unique(labels)
    names = meta.get('classes')
    shown = [names[i] if names else str(i) for i in present[:10]]
    print(f'{args.image}: {labels.shape[0]} x {labels.shape[1]}, {len(present)} classes '
          f'({", ".join(shown)}{", ..." if len(present) > 10 else ""}); wrote {args.out} and '
          f'{labels_out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
