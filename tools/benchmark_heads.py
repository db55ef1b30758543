# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Cost of FLAHead against mmseg's attention heads on the same features.

Every head gets the same input, the 1/8-scale features of a 512 x 1024
image from a dilated ResNet-101 (``2048 x 64 x 128`` by default), and is run
in eval mode without gradients. For each head the script measures, in one
run, with the methods of :mod:`mmseg_attn.analysis`:

- parameters of the head (classifier included);
- FLOPs of one forward pass (:func:`~mmseg_attn.analysis.count_flops`:
  convolutions and matrix products; 1 multiply-add = 2 FLOPs);
- CPU latency of one forward pass: all heads timed interleaved in a rotating
  order (:func:`~mmseg_attn.analysis.time_interleaved`), ``--repeat`` rounds
  after ``--warmup`` untimed ones; the median, and as ratio the median of the
  per-round ratios to ``FLAHead``;
- peak memory: the extra peak of one forward pass run as the first work of a
  fresh process (:func:`~mmseg_attn.analysis.peak_memory_in_fresh_process`;
  on the CPU the growth of the peak resident size), which the input and the
  parameters, built before, do not count in. ``--no-memory`` skips it.

and prints a markdown table with ratios to ``FLAHead``. Next to mmseg's heads
run ``FLAHead`` with its FLA block on the explicit ``impl='chunked'`` path and
the official FLANet head transcribed op for op
(:class:`mmseg_attn.testing.FLAHeadReference`, each image paired with its own
priors), which ``FLAHead`` reproduces with the same weights layout.

Example::

    python tools/benchmark_heads.py --repeat 3
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Dict, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

# a process spawned for the memory figures finds head_step here also when this
# file was loaded as a module (not run as a script)
sys.path.append(osp.dirname(osp.abspath(__file__)))

import mmseg_attn  # noqa: E402, F401  (registers FLAHead)
from mmseg_attn.analysis import (  # noqa: E402
    FLOPS_CONVENTION,
    count_flops,
    peak_memory_in_fresh_process,
    time_interleaved,
)
from mmseg_attn.testing import FLAHeadReference  # noqa: E402

#: ``type`` of the official FLANet head in :func:`head_cfgs` (not a registered model).
OFFICIAL = 'official FLANet head'


class OfficialHead(nn.Module):
    """The official head, called like an mmseg decode head (a list of features).

    Its layers are fixed (BN, ReLU, dropout 0.1, x2 nearest upsampling), so
    of the head config it takes the widths and the classes; the other keys
    shared with the mmseg heads (``norm_cfg``, ``dropout_ratio``, ...) state
    what it already does and are not read.
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int, **shared_keys):
        super().__init__()
        self.head = FLAHeadReference(in_channels, channels, num_classes, fix_batch=True)

    def forward(self, inputs):
        return self.head(inputs[0])


def build_head(cfg: dict) -> nn.Module:
    """An mmseg head from the registry, or :class:`OfficialHead`."""
    if cfg['type'] == OFFICIAL:
        return OfficialHead(**{k: v for k, v in cfg.items() if k != 'type'})
    return MODELS.build(cfg)


def head_cfgs(in_channels: int, channels: int, num_classes: int) -> Dict[str, dict]:
    """Configs of the compared heads, as in mmseg's (and our) R-101-D8 configs."""
    common = dict(
        in_channels=in_channels,
        in_index=0,
        channels=channels,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False)
    return {
        'FLAHead': dict(type='FLAHead', upsample_scale=2, upsample_mode='nearest', **common),
        'FLAHead (no x2 upsample)': dict(type='FLAHead', upsample_scale=1, **common),
        "FLAHead (FLA impl='chunked')": dict(
            type='FLAHead',
            upsample_scale=2,
            upsample_mode='nearest',
            fla_cfg=dict(impl='chunked'),
            **common),
        'official FLANet head (batch fixed)': dict(type=OFFICIAL, **common),
        'DAHead': dict(type='DAHead', pam_channels=64, **common),
        'NLHead': dict(
            type='NLHead', reduction=2, use_scale=True, mode='embedded_gaussian', **common),
        'GCHead': dict(
            type='GCHead',
            ratio=1 / 4.,
            pooling_type='att',
            fusion_types=('channel_add', ),
            **common),
        'CCHead': dict(type='CCHead', recurrence=2, **common),
    }


def head_step(cfg: dict, shape: Sequence[int], seed: int = 0) -> Callable[[], None]:
    """Build a head and its input ``(1, C, H, W)``; return one inference forward."""
    register_all_modules()
    torch.manual_seed(seed)
    head = build_head(cfg).eval()
    inputs = [torch.randn(1, *shape)]

    def step():
        with torch.no_grad():
            head(inputs)

    return step


def measure(head: torch.nn.Module, x: torch.Tensor) -> dict:
    """Parameters, FLOPs and the aten ops that carry them, of a head on ``x``."""
    flops = count_flops(head, [x], mode=None)['']
    return dict(
        params=sum(p.numel() for p in head.parameters()),
        flops=sum(flops.values()),
        ops=sorted(flops))


def markdown_table(results: Dict[str, dict], ref: str) -> str:
    """Format the results as a markdown table with ratios to ``ref``."""
    base = results[ref]

    def cell(r, key, scale, fmt):
        if r.get(key) is None:
            return '-'
        ratio = r.get(f'{key}_ratio', r[key] / base[key] if base[key] else float('nan'))
        return f'{r[key] / scale:{fmt}} ({ratio:.2f}x)'

    lines = [
        f'| head | params (M) | GFLOPs ({FLOPS_CONVENTION}) | CPU latency, median (ms) '
        '| peak memory (MiB) |',
        '|---|---|---|---|---|',
    ]
    for name, r in results.items():
        cells = [
            name,
            cell(r, 'params', 1e6, '.2f'),
            cell(r, 'flops', 1e9, '.1f'),
            cell(r, 'latency', 1e-3, '.0f'),
            cell(r, 'peak', 2**20, '.0f'),
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        default=(2048, 64, 128),
        metavar=('C', 'H', 'W'),
        help='backbone feature shape (default: 1/8 of a 512x1024 image from R-101-D8)')
    parser.add_argument('--channels', type=int, default=512, help='head channels')
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--heads', nargs='+', default=None, help='subset of heads to run (FLAHead always runs)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak memory (one fresh process per head)')
    return parser.parse_args()


def main():
    args = parse_args()
    register_all_modules()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfgs = head_cfgs(args.shape[0], args.channels, args.num_classes)
    names = list(cfgs)
    if args.heads:
        names = ['FLAHead'] + [n for n in names if n in args.heads and n != 'FLAHead']
    x = torch.randn(1, *args.shape)

    heads = {name: build_head(cfgs[name]).eval() for name in names}
    results = {name: measure(head, x) for name, head in heads.items()}

    def forward(head):
        def run():
            with torch.no_grad():
                head([x])
        return run

    times = time_interleaved({n: forward(h) for n, h in heads.items()}, args.repeat,
                             args.warmup)
    del heads
    for name in names:
        r = results[name]
        r['latency'] = times[name].median_ms / 1e3
        r['latency_ratio'] = times[name].ratio_to(times['FLAHead'])
        r['peak'] = None if args.no_memory else peak_memory_in_fresh_process(
            head_step, cfgs[name], args.shape)
        print(f'{name}: done ({r["latency"]:.2f} s)', flush=True)

    c, h, w = args.shape
    print(f'\nInput 1 x {c} x {h} x {w}, eval mode, no grad, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, latency median of {args.repeat} interleaved '
          f'rounds after {args.warmup} warm-up (ratio: median of the per-round ratios).\n')
    print(markdown_table(results, 'FLAHead'))
    print(f'\nFLOPs: torch.utils.flop_counter.FlopCounterMode ({FLOPS_CONVENTION}); '
          'ops counted per head:')
    for name, r in results.items():
        print(f'- {name}: {", ".join(r["ops"])}')
    print('Peak memory: extra peak of one forward pass run first in a fresh process '
          '(mmseg_attn.analysis.peak_memory_in_fresh_process).')


if __name__ == '__main__':
    main()
