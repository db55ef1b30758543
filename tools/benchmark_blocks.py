# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Benchmark every attention block against its reference implementation.

The references are those of :mod:`mmseg_attn.testing` with their known
defects fixed (FLA pairs each image with its own priors; iAFF uses its
second global branch), built next to the block with the same weights by
:func:`mmseg_attn.testing.make_pair`; the largest output difference is
printed next to the figures, so both sides compute the same function.

Measured for each block, with the methods of :mod:`mmseg_attn.analysis`:

- ``fwd``: latency of an inference forward (``eval()``, ``no_grad``);
- ``train``: latency of a training forward + backward of
  ``out.float().square().mean()`` (``train()``);
  ours and the reference are timed interleaved in a rotating order
  (:func:`~mmseg_attn.analysis.time_interleaved`); a cell shows the two
  medians and the median of the per-round ratios. ``--timer cpu`` times the
  CPU time of this process, which the load of other processes on a shared
  machine does not inflate;
- ``peak``: extra peak memory of one inference forward / training step, each
  run as the first work of a fresh process
  (:func:`~mmseg_attn.analysis.peak_memory_in_fresh_process`): on CUDA the
  allocator's peak above the memory at entry, on the CPU the growth of the
  process's peak resident size. ``--no-memory`` skips it (it costs a process
  start per cell).

Ratios are ours / reference: below 1 is better.

Examples::

    python tools/benchmark_blocks.py --repeats 5
    python tools/benchmark_blocks.py --blocks SqueezeExcitation CBAM --size 2 256 64 64
    python tools/benchmark_blocks.py --blocks FullyAttentionalBlock --fla-size 2 512 64 128 \\
        --fla-impls auto chunked
"""
import argparse
import os.path as osp
import runpy
import sys
from typing import List, Optional, Sequence, Tuple

import torch

from mmseg_attn.analysis import peak_memory_in_fresh_process, time_interleaved
from mmseg_attn.testing import (
    BLOCK_PAIRS,
    block_accepts,
    make_inputs,
    make_pair,
    make_step,
    pair_step,
)

FLA = 'FullyAttentionalBlock'
#: Default extra FLA sizes: FLANet's head on a 512 x 1024 crop, and an odd one.
FLA_SIZES = (2, 512, 64, 128, 1, 512, 97, 97)
MODES = ('fwd', 'train')
TOOLS = osp.dirname(osp.abspath(__file__))


def jobs(names: Sequence[str], shape: Tuple[int, ...], fla_shapes: Sequence[Tuple[int, ...]],
         fla_impls: Optional[Sequence[str]]) -> List[Tuple[str, Tuple[int, ...], dict]]:
    """``(block, shape, block kwargs)`` of every row."""
    rows = []
    for name in names:
        shapes = [shape]
        kwargs_list = [{}]
        if name == FLA:
            shapes += [s for s in fla_shapes if s != shape]
            if fla_impls:
                if block_accepts(FLA, 'impl'):
                    kwargs_list = [dict(impl=impl) for impl in fla_impls]
                else:
                    print(f'{FLA} takes no impl argument: --fla-impls ignored', file=sys.stderr)
        rows += [(name, s, kwargs) for s in shapes for kwargs in kwargs_list]
    return rows


def max_diff(ours, ref, inputs) -> float:
    ours.eval()
    ref.eval()
    with torch.no_grad():
        return (ours(*inputs) - ref(*inputs)).abs().max().item()


def measure(name: str, shape: Tuple[int, ...], block_kwargs: dict, device: torch.device,
            repeats: int, warmup: int, clock: str, memory: bool, input_grad: bool) -> dict:
    """One row: max abs diff, then per mode the timings and (optionally) the peaks."""
    ours, ref = make_pair(name, shape[1], device, **block_kwargs)
    inputs = make_inputs(name, shape, device)
    label = name + ''.join(f' ({k}={v})' for k, v in block_kwargs.items())
    row = dict(block=label, shape='x'.join(map(str, shape)), max_diff=max_diff(ours, ref, inputs))
    for mode in MODES:
        steps = {side: make_step(module, inputs, mode, input_grad)
                 for side, module in (('ours', ours), ('ref', ref))}
        times = time_interleaved(steps, repeats, warmup, device, clock)
        row[f'ours_{mode}_ms'] = times['ours'].median_ms
        row[f'ref_{mode}_ms'] = times['ref'].median_ms
        row[f'{mode}_ms_ratio'] = times['ours'].ratio_to(times['ref'])
    del ours, ref, inputs, steps
    for mode in MODES:
        for side in ('ours', 'ref'):
            peak = None
            if memory:
                peak = peak_memory_in_fresh_process(pair_step, name, shape, side, mode,
                                                    str(device), block_kwargs, input_grad,
                                                    device=device) / 2**20
            row[f'{side}_{mode}_mb'] = peak
    return row


def format_table(rows: List[dict]) -> str:
    lines = [
        '| block | input (N x C x H x W) | max abs diff | fwd ms ours / ref (ratio) | '
        'fwd peak MiB ours / ref (ratio) | train ms ours / ref (ratio) | '
        'train peak MiB ours / ref (ratio) |', '|---|---|---|---|---|---|---|'
    ]

    def cell(row, mode, unit):
        ours, ref = row[f'ours_{mode}_{unit}'], row[f'ref_{mode}_{unit}']
        if ours is None:
            return '-'
        ratio = row[f'{mode}_ms_ratio'] if unit == 'ms' else (ours / ref if ref else float('nan'))
        return f'{ours:.1f} / {ref:.1f} ({ratio:.2f})'

    for row in rows:
        lines.append(f"| {row['block']} | {row['shape']} | {row['max_diff']:.1e} | "
                     f"{cell(row, 'fwd', 'ms')} | {cell(row, 'fwd', 'mb')} | "
                     f"{cell(row, 'train', 'ms')} | {cell(row, 'train', 'mb')} |")
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda, cuda:1')
    parser.add_argument('--repeats', type=int, default=10, help='timed rounds per measurement')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
    parser.add_argument(
        '--blocks', nargs='+', default=list(BLOCK_PAIRS), choices=list(BLOCK_PAIRS),
        metavar='NAME', help=f'blocks to run (default: all of {", ".join(BLOCK_PAIRS)})')
    parser.add_argument(
        '--size', nargs=4, type=int, default=[2, 256, 64, 64], metavar=('N', 'C', 'H', 'W'),
        help='input size of every block (default: 2 256 64 64)')
    parser.add_argument(
        '--fla-size', nargs='+', type=int, default=list(FLA_SIZES), metavar='N C H W',
        help='extra FLA input sizes, four numbers each (default: 2 512 64 128 1 512 97 97); '
        '0 0 0 0 for none')
    parser.add_argument(
        '--fla-impls', nargs='+', default=None, metavar='IMPL',
        help="one FLA row per implementation, e.g. auto chunked (passed as impl= where "
        "FullyAttentionalBlock takes it; default: the block's default)")
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--timer', choices=('wall', 'cpu'), default='wall',
        help='wall: elapsed time (default); cpu: CPU time of this process, which other '
        'processes on a shared machine do not inflate (use with --threads 1 to read it as '
        'single-thread latency; CPU only)')
    parser.add_argument(
        '--input-grad', action='store_true',
        help='training steps also compute the gradients of the inputs, as for a block inside '
        'a network (default: those of the parameters only)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak memory (one fresh process per cell)')
    parser.add_argument(
        '--params-table', action='store_true',
        help='print the table of blocks and parameter counts (from tools/gen_model_zoo.py), '
        'then exit')
    args = parser.parse_args()
    if len(args.fla_size) % 4:
        parser.error(f'--fla-size takes N C H W groups of four numbers, got {args.fla_size}')
    return args


def main():
    args = parse_args()
    if args.params_table:
        print(runpy.run_path(osp.join(TOOLS, 'gen_model_zoo.py'))['blocks_table']())
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.timer == 'cpu' and device.type != 'cpu':
        raise ValueError('--timer cpu measures CPU time and needs --device cpu')
    fla_shapes = [tuple(args.fla_size[i:i + 4]) for i in range(0, len(args.fla_size), 4)]
    fla_shapes = [s for s in fla_shapes if any(s)]
    rows = []
    for name, shape, kwargs in jobs(args.blocks, tuple(args.size), fla_shapes, args.fla_impls):
        rows.append(measure(name, shape, kwargs, device, args.repeats, args.warmup, args.timer,
                            not args.no_memory, args.input_grad))
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'timer={args.timer} repeats={args.repeats} train gradients='
          f'{"parameters and inputs" if args.input_grad else "parameters"} '
          '(medians; time ratio = median of '
          'paired ratios); peak memory = extra peak in a fresh process; ratios are ours / '
          'reference')
    print(format_table(rows))


if __name__ == '__main__':
    main()
