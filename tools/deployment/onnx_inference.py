# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Run an exported segmentor on an image in ONNX Runtime.

The channel order, mean and std come from the model's metadata (written by
``tools/deployment/pytorch2onnx.py``). A model exported with a fixed size
gets the image resized to that size and its prediction resized back
(bilinear logits, nearest labels); a dynamic one gets the image as it is.
Two PNGs are written: the coloured prediction (``--out``) and the labels
(``--labels-out``, by default ``<out>_labels.png``; 8-bit, or 16-bit above
256 classes).

Example::

    python tools/deployment/onnx_inference.py demo.png bisenet.onnx --out pred.png \\
        --palette cityscapes
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import mmcv
import numpy as np

from mmseg_attn.deployment import create_session, read_metadata

PALETTES = {
    'cityscapes': 'CityscapesDataset',
    'ade20k': 'ADE20KDataset',
    'voc': 'PascalVOCDataset',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Segment an image with an ONNX model')
    parser.add_argument('image', help='image file')
    parser.add_argument('model', help='.onnx file exported by pytorch2onnx.py')
    parser.add_argument('--out', required=True, help='coloured prediction (PNG)')
    parser.add_argument('--labels-out', help='labels (PNG; default: <out>_labels.png)')
    parser.add_argument('--palette', choices=sorted(PALETTES),
                        help='colours of a dataset (default: the palette in the metadata, '
                        'else a fixed random one)')
    parser.add_argument('--opacity', type=float, default=1.0,
                        help='weight of the colours over the image, 0 to 1 (default: 1, '
                        'colours only)')
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
        palette = [tuple(c) for c in meta['palette']]
    else:
        rng = np.random.RandomState(42)
        palette = [tuple(int(v) for v in rng.randint(0, 256, 3)) for _ in range(num_classes)]
    if len(palette) < num_classes:
        raise ValueError(f'the palette has {len(palette)} colours, the model predicts '
                         f'{num_classes} classes')
    return np.array(palette, dtype=np.uint8)


def preprocess(image, meta):
    """BGR ``uint8 (H, W, 3)`` -> the normalised ``(1, 3, H, W)`` float32 input."""
    img = image.astype(np.float32)
    if meta.get('bgr_to_rgb'):
        img = img[..., ::-1]
    mean = np.array(meta.get('mean', [0.0] * 3), dtype=np.float32)
    std = np.array(meta.get('std', [1.0] * 3), dtype=np.float32)
    img = (img - mean) / std
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None])


def infer(session, meta, image):
    """Labels ``(H, W)`` of a BGR image at its own size."""
    h, w = image.shape[:2]
    export_shape = meta.get('export_shape')
    resized = not meta.get('dynamic_shape') and export_shape and tuple(export_shape) != (h, w)
    if resized:
        image = mmcv.imresize(image, (export_shape[1], export_shape[0]))
    name = session.get_inputs()[0].name
    (out, ) = session.run(None, {name: preprocess(image, meta)})
    out = out[0]
    if meta.get('output', 'logits') == 'argmax':
        labels = out
        if resized:
            labels = cv2.resize(labels.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        return labels.astype(np.int64)
    if resized:
        out = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in out])
    if out.shape[0] == 1:
        return (out[0] > 0).astype(np.int64)  # sigmoid(x) > 0.5
    return out.argmax(axis=0)


def main(argv=None):
    args = parse_args(argv)
    if not 0 <= args.opacity <= 1:
        print(f'error: --opacity must be between 0 and 1, got {args.opacity}', file=sys.stderr)
        return 1
    for path, what in ((args.image, 'image'), (args.model, 'ONNX model')):
        if not osp.isfile(path):
            print(f'error: {what} {path!r} does not exist', file=sys.stderr)
            return 1
    image = mmcv.imread(args.image, 'color')
    meta = read_metadata(args.model)
    session = create_session(args.model)
    labels = infer(session, meta, image)
    num_classes = int(meta.get('num_classes', int(labels.max()) + 1))
    palette = get_palette(meta, args.palette, max(num_classes, 2))
    colour = palette[np.clip(labels, 0, len(palette) - 1)][..., ::-1]  # RGB -> BGR
    if args.opacity < 1:
        colour = (image * (1 - args.opacity) + colour * args.opacity).astype(np.uint8)
    labels_out = args.labels_out or osp.splitext(args.out)[0] + '_labels.png'
    for path in (args.out, labels_out):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    mmcv.imwrite(colour, args.out)
    dtype = np.uint8 if num_classes <= 256 else np.uint16
    mmcv.imwrite(labels.astype(dtype), labels_out)
    present = np.unique(labels)
    names = meta.get('classes')
    shown = [names[i] if names and i < len(names) else str(i) for i in present[:10]]
    print(f'{args.image}: {labels.shape[0]} x {labels.shape[1]}, {len(present)} classes '
          f'({", ".join(shown)}{", ..." if len(present) > 10 else ""}); wrote {args.out} and '
          f'{labels_out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
