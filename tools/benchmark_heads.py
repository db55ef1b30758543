# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Cost of FLAHead against mmseg's attention heads on the same features.

Every head gets the same input, the 1/8-scale features of a 512 x 1024
image from a dilated ResNet-101 (``2048 x 64 x 128`` by default), and is run
in eval mode without gradients. For each head the script measures, in one
run:

- parameters of the head (classifier included);
- FLOPs of one forward pass, counted by :class:`torch.utils.flop_counter.FlopCounterMode`
  (it counts ``mm``, ``bmm``, ``addmm``, ``baddbmm``, convolutions and
  attention kernels; matrix products written as ``matmul``/``einsum`` reach it
  as ``mm``/``bmm``; element-wise ops, softmax, norms and interpolation are
  not counted). One multiply-add counts as 2 FLOPs;
- CPU latency of one forward pass: the median of ``--repeat`` timed runs
  after ``--warmup`` untimed ones, with ``torch.get_num_threads()`` threads;
- peak memory: the largest total size of the tensors that are alive at the
  same time during the forward pass, not counting the input and the
  parameters. It is tracked op by op with a ``TorchDispatchMode`` that adds
  the storage of every tensor an ATen op returns and subtracts it when the
  last tensor using that storage is freed; workspaces internal to an op
  (e.g. of a convolution kernel) are not seen.

and prints a markdown table with ratios to ``FLAHead``.

Example::

    python tools/benchmark_heads.py --repeat 3
"""
import argparse
import statistics
import time
import weakref
from typing import Dict, List

import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

import mmseg_attn  # noqa: F401  (registers FLAHead)


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


class PeakMemoryMode(TorchDispatchMode):
    """Track the peak total size of live tensor storages returned by ATen ops.

    Storages that exist before the mode is entered (input, parameters,
    buffers) are passed as ``ignore`` and never counted.

    Args:
        ignore (list[Tensor]): Tensors whose storages are not counted.
    """

    def __init__(self, ignore: List[torch.Tensor]):
        super().__init__()
        self.ignored = {t.untyped_storage().data_ptr() for t in ignore}
        self.live = {}  # storage data_ptr -> [nbytes, number of live tensors]
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key == 0 or key in self.ignored:
            return
        entry = self.live.get(key)
        if entry is None:
            entry = self.live[key] = [storage.nbytes(), 0]
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        weakref.finalize(tensor, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._track(leaf)
        return out


def measure(head: torch.nn.Module, x: torch.Tensor, warmup: int, repeat: int) -> dict:
    """Parameters, FLOPs, median latency (s) and peak memory (bytes) of a head."""
    inputs = [x]
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            head(inputs)
        flops = counter.get_total_flops()
        ops = sorted({str(op).split('.')[1] for op in counter.get_flop_counts()['Global']})

        keep = [x, *head.parameters(), *head.buffers()]
        mode = PeakMemoryMode(keep)
        with mode:
            out = head(inputs)
        del out
        peak = mode.peak

        for _ in range(warmup):
            head(inputs)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            head(inputs)
            times.append(time.perf_counter() - start)
    return dict(
        params=sum(p.numel() for p in head.parameters()),
        flops=flops,
        ops=ops,
        latency=statistics.median(times),
        peak=peak)


def markdown_table(results: Dict[str, dict], ref: str) -> str:
    """Format the results as a markdown table with ratios to ``ref``."""
    base = results[ref]

    def cell(r, key, scale, fmt):
        return f'{r[key] / scale:{fmt}} ({r[key] / base[key]:.2f}x)'

    lines = [
        '| head | params (M) | GFLOPs | CPU latency, median (ms) | peak memory (MiB) |',
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

    results = {}
    for name in names:
        head = MODELS.build(cfgs[name]).eval()
        results[name] = measure(head, x, args.warmup, args.repeat)
        print(f'{name}: done ({results[name]["latency"]:.2f} s)', flush=True)
        del head

    c, h, w = args.shape
    print(f'\nInput 1 x {c} x {h} x {w}, eval mode, no grad, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, latency median of {args.repeat} runs '
          f'after {args.warmup} warm-up.\n')
    print(markdown_table(results, 'FLAHead'))
    print('\nFLOPs: torch.utils.flop_counter.FlopCounterMode (1 multiply-add = 2 FLOPs); '
          'ops counted per head:')
    for name, r in results.items():
        print(f'- {name}: {", ".join(r["ops"])}')
    print('Peak memory: largest total size of live tensors returned by ATen ops during the '
          'forward pass (input and parameters excluded), tracked with a TorchDispatchMode.')


if __name__ == '__main__':
    main()
