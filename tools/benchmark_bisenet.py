# Copyright (c) mmseg_attn contributors. All rights reserved.
"""CPU cost of mmseg_attn's BiSeNet-R18 against mmseg's BiSeNetV1-R18.

Three segmentors are built with BN and random weights:

- ``mmseg BiSeNetV1``: mmseg's own
  ``bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024`` model;
- ``ours (mmseg variant)``: ``configs/bisenet/bisenetv1-mmseg_r18-d32-in1k-pre_
  4xb4-160k_cityscapes-1024x1024.py`` with mmseg's weights converted by
  ``tools/model_converters/bisenetv1_mmseg2attn.py`` (so both compute the same
  logits; the largest difference is printed);
- ``ours (paper variant)``: ``configs/bisenet/bisenet_r18-d32-in1k-pre_4xb4-
  160k_cityscapes-1024x1024.py``.

In one run the script measures, for an input of ``1 x 3 x H x W``
(512 x 1024 by default), with the methods of :mod:`mmseg_attn.analysis`:

- latency of inference (``encode_decode``: backbone, neck, decode head and
  the resize of the logits to the input size; eval mode, no gradients). The
  models are timed interleaved, in a rotating order
  (:func:`~mmseg_attn.analysis.time_interleaved`), ``--repeat`` rounds after
  ``--warmup`` untimed ones; the median and the minimum of each model are
  reported with the ratio of its median to mmseg's and the median of the
  per-round ratios (robust to a load that drifts during the run);
- parameters, all of them and those of the inference path (without the
  auxiliary heads);
- FLOPs of ``model(x)`` (backbone, neck, decode head) counted by
  :func:`~mmseg_attn.analysis.count_flops` (1 multiply-add = 2 FLOPs).

Example::

    python tools/benchmark_bisenet.py --repeat 10
"""
import argparse
import importlib.util
import os.path as osp
from typing import Dict

import torch

from mmseg_attn.analysis import FLOPS_CONVENTION, count_flops, time_interleaved
from mmseg_attn.apis import build_segmentor

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMSEG_CONFIG = 'mmseg::bisenetv1/bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py'
OURS_MMSEG = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
OURS_PAPER = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
CONVERTER = osp.join(REPO_ROOT, 'tools', 'model_converters', 'bisenetv1_mmseg2attn.py')


def build(config: str) -> torch.nn.Module:
    """The segmentor of a config with BN, random weights and its auxiliary heads."""
    return build_segmentor(config, keep_auxiliary=True)


def converter():
    spec = importlib.util.spec_from_file_location('bisenetv1_mmseg2attn', CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def count_params(model: torch.nn.Module, inference_only: bool = False) -> int:
    modules = [model.backbone, model.decode_head]
    if getattr(model, 'neck', None) is not None:
        modules.append(model.neck)
    if not inference_only:
        modules = [model]
    return sum(p.numel() for m in modules for p in m.parameters())


def main():
    parser = argparse.ArgumentParser(description='CPU cost of BiSeNet-R18: mmseg_attn vs mmseg')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 1024], help='H W')
    parser.add_argument('--repeat', type=int, default=10, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOP count')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models: Dict[str, torch.nn.Module] = {'mmseg BiSeNetV1': build(MMSEG_CONFIG)}
    ours = build(OURS_MMSEG)
    ours.load_state_dict(converter().convert(models['mmseg BiSeNetV1'].state_dict()))
    models['ours (mmseg variant)'] = ours
    models['ours (paper variant)'] = build(OURS_PAPER)

    h, w = args.shape
    x = torch.randn(1, 3, h, w)
    metas = [dict(img_shape=(h, w), pad_shape=(h, w))]
    outputs = {}

    def infer(name):
        def run():
            with torch.no_grad():
                outputs[name] = models[name].encode_decode(x, metas)
        return run

    times = time_interleaved({name: infer(name) for name in models}, args.repeat, args.warmup)
    diff = (outputs['mmseg BiSeNetV1'] - outputs['ours (mmseg variant)']).abs().max().item()

    flops = {}
    if not args.no_flops:
        for name, model in models.items():
            flops[name] = sum(count_flops(model, x)[''].values())

    base = times['mmseg BiSeNetV1']
    print(f'input 1x3x{h}x{w}, {torch.get_num_threads()} threads, '
          f'{args.repeat} rounds (+{args.warmup} warm-up), torch {torch.__version__}')
    print('| model | latency median (ms) | min (ms) | ratio of medians | median of paired '
          f'ratios | params (M) | params w/o aux (M) | GFLOPs ({FLOPS_CONVENTION}) |')
    print('|---|---|---|---|---|---|---|---|')
    for name, t in times.items():
        gflops = f'{flops[name] / 1e9:.2f}' if name in flops else '-'
        print(f'| {name} | {t.median_ms:.1f} | {t.min_ms:.1f} | '
              f'{t.median_ms / base.median_ms:.3f} | {t.ratio_to(base):.3f} | '
              f'{count_params(models[name]) / 1e6:.3f} | '
              f'{count_params(models[name], inference_only=True) / 1e6:.3f} | {gflops} |')
    print(f'max abs diff of the logits, mmseg vs ours (mmseg variant, converted): {diff:.2e}')


if __name__ == '__main__':
    main()
