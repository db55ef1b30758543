"""Convert a checkpoint of mmseg's BiSeNetV1 segmentor to mmseg_attn's layout.

mmseg keeps BiSeNetV1 in one backbone (``backbone.context_path.*``,
``backbone.spatial_path.*``, ``backbone.ffm.*``); mmseg_attn splits it into
``BiSeNetBackbone`` (spatial path + context backbone), ``FFMNeck`` (ARMs,
global context, FFM) and ``BiSeNetHead``
(:func:`mmseg_attn.models.utils.bisenetv1_converter`). The converted
checkpoint loads into
``configs/bisenet/bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py``
(or any config of the mmseg variant with the same context backbone).

Example::

    python tools/model_converters/bisenetv1_mmseg2attn.py \\
        https://download.openmmlab.com/mmsegmentation/v0.5/bisenetv1/<...>.pth \\
        bisenet_mmseg_r18_cityscapes.pth
"""
import argparse
import os.path as osp
from typing import Mapping

import torch
from mmengine.runner import CheckpointLoader

import mmseg_attn  # noqa: F401  (secure checkpoint loading)
from mmseg_attn.models.utils import bisenetv1_converter
from mmseg_attn.security import atomic_open, load_checkpoint_file


def load_state_dict(src: str):
    """``(state_dict, meta)`` of a checkpoint file or URL, loaded securely."""
    if osp.isfile(osp.expanduser(src)):
        checkpoint = load_checkpoint_file(src, map_location='cpu')
    else:
        checkpoint = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        return checkpoint['state_dict'], dict(checkpoint.get('meta') or {})
    return checkpoint, {}


def main():
    parser = argparse.ArgumentParser(
        description='Convert a checkpoint of mmseg\'s BiSeNetV1 segmentor to the layout '
        'of mmseg_attn (BiSeNetBackbone + FFMNeck + BiSeNetHead).')
    parser.add_argument('src', help='source checkpoint: a file or URL')
    parser.add_argument('dst', help='where to save the converted checkpoint')
    args = parser.parse_args()

    state_dict, src_meta = load_state_dict(args.src)
    converted = bisenetv1_converter(state_dict)
    meta = dict(converted_from='mmseg BiSeNetV1', source=osp.basename(args.src))
    # class names and palette, so that mmseg's init_model / inferencer find them
    for key in ('dataset_meta', 'CLASSES', 'PALETTE'):
        if key in src_meta:
            meta[key] = src_meta[key]
    with atomic_open(args.dst) as f:
        torch.save(dict(state_dict=converted, meta=meta), f)
    print(f'converted {len(converted)} tensors from {args.src} to {args.dst}')


if __name__ == '__main__':
    main()
