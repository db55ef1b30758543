# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Benchmark every attention block against its reference implementation.

The reference implementations below are the published / official code of
each block, transcribed, with the known defects fixed (FLA pairs each image
with its own priors via ``repeat_interleave``; iAFF uses its second global
branch; "Attentionout" returns its residual when asked). Weights are copied
from the reference into the block, and the largest output difference is
printed next to the timings, so both sides compute the same function.

Measured, all in one run, for each block:

- ``fwd``: median latency of an inference forward (``eval()``, ``no_grad``);
- ``train``: median latency of a training forward + backward of
  ``out.float().square().mean()`` (``train()``);
  ours and the reference are timed alternately; ``--timer cpu`` times the
  CPU time of this process instead of the elapsed time, which the load of
  other processes on a shared machine does not inflate;
- ``peak``: peak tensor memory above what was alive before the call, for
  the inference forward and for the training step. On CUDA this is
  ``torch.cuda.max_memory_allocated``. On CPU it is read from the PyTorch
  profiler: with ``profile_memory=True`` every allocation and free of the
  CPU allocator is recorded with the allocator's running total, and the
  peak is the largest running total minus the total before the call (tensor
  memory only; no Python objects, no allocator caching).

Ratios are ours / reference: below 1 is better.

Examples::

    python tools/benchmark_blocks.py --repeats 5
    python tools/benchmark_blocks.py --blocks SqueezeExcitation CBAM --size 2 256 64 64
    python tools/benchmark_blocks.py --blocks FullyAttentionalBlock --fla-size 2 512 64 128
    python tools/benchmark_blocks.py --params-table > docs/blocks_params.md
"""
import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

# ---------------------------------------------------------------------------
# Reference implementations (published code, defects fixed)
# ---------------------------------------------------------------------------


class RefConvBNReLU(nn.Module):

    def __init__(self, in_chan, out_chan, ks=3, stride=1, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, ks, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_chan)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class RefSE(nn.Module):
    """SE layer of the reference article (FC layers without bias)."""

    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False), nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class RefChannelGate(nn.Module):
    """Official CBAM channel gate."""

    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(gate_channels, gate_channels // reduction_ratio), nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels))

    def forward(self, x):
        size = (x.size(2), x.size(3))
        att = self.mlp(F.avg_pool2d(x, size, stride=size)) + self.mlp(
            F.max_pool2d(x, size, stride=size))
        return x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)


class RefSpatialGate(nn.Module):
    """Official CBAM spatial gate ([max; mean], conv, BN(momentum 0.01))."""

    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x):
        compress = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)),
                             dim=1)
        return x * torch.sigmoid(self.bn(self.conv(compress)))


class RefCBAM(nn.Module):

    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.ChannelGate = RefChannelGate(gate_channels, reduction_ratio)
        self.SpatialGate = RefSpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class RefARM(nn.Module):
    """ARM of the BiSeNet reference code."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.conv = RefConvBNReLU(in_chan, out_chan, ks=3, stride=1, padding=1)
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)

    def forward(self, x):
        feat = self.conv(x)
        atten = torch.sigmoid(self.bn_atten(self.conv_atten(F.avg_pool2d(feat,
                                                                         feat.size()[2:]))))
        return torch.mul(feat, atten)


class RefAttentionout(nn.Module):
    """"Attentionout", returning ``x * a`` (what the reference returns)."""

    def __init__(self, out_chan):
        super().__init__()
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)

    def forward(self, x):
        return torch.mul(x, torch.sigmoid(self.bn_atten(self.conv_atten(x))))


class RefSAR(nn.Module):

    def __init__(self, in_chan, mid):
        super().__init__()
        self.conv_reduce = RefConvBNReLU(in_chan, mid, 1, 1, 0)
        self.conv_atten = nn.Conv2d(2, 1, kernel_size=3, padding=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(1)

    def forward(self, x):
        x_att = self.conv_reduce(x)
        low = torch.cat([torch.mean(x_att, 1, True), torch.max(x_att, 1, True)[0]], dim=1)
        return x * torch.sigmoid(self.bn_atten(self.conv_atten(low)))


class RefFFM(nn.Module):
    """FFM of the BiSeNet reference code (paper version)."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.convblk = RefConvBNReLU(in_chan, out_chan, ks=1, stride=1, padding=0)
        self.conv1 = nn.Conv2d(out_chan, out_chan // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_chan // 4, out_chan, 1, bias=False)

    def forward(self, fsp, fcp):
        feat = self.convblk(torch.cat([fsp, fcp], dim=1))
        atten = F.avg_pool2d(feat, feat.size()[2:])
        atten = torch.sigmoid(self.conv2(F.relu(self.conv1(atten))))
        return torch.mul(feat, atten) + feat


def _ref_bottleneck(channels, inter, pooled):
    layers = [nn.AdaptiveAvgPool2d(1)] if pooled else []
    layers += [
        nn.Conv2d(channels, inter, 1),
        nn.BatchNorm2d(inter),
        nn.ReLU(inplace=True),
        nn.Conv2d(inter, channels, 1),
        nn.BatchNorm2d(channels)
    ]
    return nn.Sequential(*layers)


class RefMSCAM(nn.Module):

    def __init__(self, channels=64, r=4):
        super().__init__()
        self.local_att = _ref_bottleneck(channels, channels // r, False)
        self.global_att = _ref_bottleneck(channels, channels // r, True)

    def forward(self, x):
        return x * torch.sigmoid(self.local_att(x) + self.global_att(x))


class RefAFF(RefMSCAM):

    def forward(self, x, residual):
        xa = x + residual
        wei = torch.sigmoid(self.local_att(xa) + self.global_att(xa))
        return x * wei + residual * (1 - wei)


class RefIAFF(nn.Module):
    """iAFF with its second global branch used."""

    def __init__(self, channels=64, r=4):
        super().__init__()
        self.local_att = _ref_bottleneck(channels, channels // r, False)
        self.global_att = _ref_bottleneck(channels, channels // r, True)
        self.local_att2 = _ref_bottleneck(channels, channels // r, False)
        self.global_att2 = _ref_bottleneck(channels, channels // r, True)

    def forward(self, x, residual):
        xa = x + residual
        wei = torch.sigmoid(self.local_att(xa) + self.global_att(xa))
        xi = x * wei + residual * (1 - wei)
        wei2 = torch.sigmoid(self.local_att2(xi) + self.global_att2(xi))
        return x * wei2 + residual * (1 - wei2)


class RefFLA(nn.Module):
    """FLA block of the reference code; ``repeat`` replaced by
    ``repeat_interleave`` so that each image uses its own priors."""

    def __init__(self, plane):
        super().__init__()
        self.conv1 = nn.Linear(plane, plane)
        self.conv2 = nn.Linear(plane, plane)
        self.conv = nn.Sequential(
            nn.Conv2d(plane, plane, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(plane),
            nn.ReLU())
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        batch_size, _, height, width = x.size()
        feat_h = x.permute(0, 3, 1, 2).contiguous().view(batch_size * width, -1, height)
        feat_w = x.permute(0, 2, 1, 3).contiguous().view(batch_size * height, -1, width)
        encode_h = self.conv1(
            F.avg_pool2d(x, [1, width]).view(batch_size, -1, height).permute(0, 2, 1).contiguous())
        encode_w = self.conv2(
            F.avg_pool2d(x, [height, 1]).view(batch_size, -1, width).permute(0, 2, 1).contiguous())
        energy_h = torch.matmul(feat_h, encode_h.repeat_interleave(width, 0))
        energy_w = torch.matmul(feat_w, encode_w.repeat_interleave(height, 0))
        full_relation_h = self.softmax(energy_h)
        full_relation_w = self.softmax(energy_w)
        full_aug_h = torch.bmm(full_relation_h, feat_h).view(batch_size, width, -1,
                                                             height).permute(0, 2, 3, 1)
        full_aug_w = torch.bmm(full_relation_w, feat_w).view(batch_size, height, -1,
                                                             width).permute(0, 2, 1, 3)
        out = self.gamma * (full_aug_h + full_aug_w) + x
        return self.conv(out)


# ---------------------------------------------------------------------------
# Block table: ours (config), reference factory, inputs, weight fix-ups
# ---------------------------------------------------------------------------


def _flip_spatial(block):
    # the official CBAM stacks [max; mean], the block [mean; max]
    weight = block.spatial_attention.conv.conv.weight
    weight.copy_(weight.flip(1))


def _set_gamma(block, ref):
    block.gamma.fill_(0.5)
    ref.gamma.fill_(0.5)


# name -> (block cfg without in_channels, reference factory(C), number of
# inputs, post-copy fix-up(block, ref) or None)
BLOCKS: Dict[str, Tuple[dict, Callable[[int], nn.Module], int, Optional[Callable]]] = {
    'SqueezeExcitation': (dict(ratio=16, bias=False), lambda c: RefSE(c, 16), 1, None),
    'CBAM': (dict(ratio=16, norm_cfg=dict(type='BN', momentum=0.01)), lambda c: RefCBAM(c, 16),
             1, lambda b, r: _flip_spatial(b)),
    'AttentionRefinementModule': (dict(), lambda c: RefARM(c, c), 1, None),
    'PixelAttention': (dict(), lambda c: RefAttentionout(c), 1, None),
    'SpatialAttentionRefinement': (dict(mid_channels=64), lambda c: RefSAR(c, 64), 1, None),
    'MSCAM': (dict(ratio=4), lambda c: RefMSCAM(c, 4), 1, None),
    'FeatureFusionModule': (dict(), lambda c: RefFFM(c, c), 2, None),
    'AFF': (dict(ratio=4), lambda c: RefAFF(c, 4), 2, None),
    'iAFF': (dict(ratio=4), lambda c: RefIAFF(c, 4), 2, None),
    'FullyAttentionalBlock': (dict(), lambda c: RefFLA(c), 1, _set_gamma),
}

_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


@torch.no_grad()
def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy conv / linear / BN weights of ``src`` into ``dst`` in order.

    A bias that only ``src`` has (in front of a norm) is zeroed in ``src``.
    """
    src_layers = [m for m in src.modules() if isinstance(m, _LAYERS)]
    dst_layers = [m for m in dst.modules() if isinstance(m, _LAYERS)]
    assert len(src_layers) == len(dst_layers), (src, dst)
    for s, d in zip(src_layers, dst_layers):
        d.weight.copy_(s.weight.reshape(d.weight.shape))
        if isinstance(s, nn.BatchNorm2d):
            d.bias.copy_(s.bias)
            d.running_mean.copy_(s.running_mean)
            d.running_var.copy_(s.running_var)
        elif s.bias is not None and d.bias is not None:
            d.bias.copy_(s.bias)
        elif s.bias is not None:
            s.bias.zero_()
        elif d.bias is not None:
            d.bias.zero_()


def make_pair(name: str, channels: int, device: torch.device):
    """Our block and its reference, with the same weights."""
    cfg, ref_factory, _, fix = BLOCKS[name]
    ours = MODELS.build(dict(type=name, in_channels=channels, **cfg))
    ref = ref_factory(channels)
    copy_weights(ref, ours)
    if fix is not None:
        with torch.no_grad():
            fix(ours, ref)
    return ours.to(device), ref.to(device)


def make_inputs(name: str, shape: Tuple[int, int, int, int], device: torch.device):
    n, c, h, w = shape
    if BLOCKS[name][2] == 1:
        return (torch.randn(n, c, h, w, device=device), )
    if name == 'FeatureFusionModule':  # in_channels is the concatenation
        return (torch.randn(n, c // 2, h, w, device=device),
                torch.randn(n, c - c // 2, h, w, device=device))
    return (torch.randn(n, c, h, w, device=device), torch.randn(n, c, h, w, device=device))


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _median_ms_pair(fns: Tuple[Callable, Callable], device: torch.device, repeats: int,
                    warmup: int, clock: Callable[[], float]) -> Tuple[float, float]:
    """Median latencies of two functions, timed alternately so that a
    change of machine load affects both alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: Tuple[List[float], List[float]] = ([], [])
    for i in range(repeats):
        # alternate which one goes first
        for j in ((0, 1) if i % 2 == 0 else (1, 0)):
            _sync(device)
            start = clock()
            fns[j]()
            _sync(device)
            times[j].append((clock() - start) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def _cpu_peak_bytes(fn: Callable) -> int:
    """Peak CPU tensor bytes allocated by ``fn`` above the level at entry."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'trace.json')
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)['traceEvents']
    totals = []
    for event in events:
        args = event.get('args', {})
        if event.get('name') == '[memory]' and 'Total Allocated' in args:
            device_type = args.get('Device Type', 0)
            if device_type == 0:  # CPU
                order = (args.get('Ev Idx', 0), event['ts'])
                totals.append((order, args['Total Allocated'], args['Bytes']))
    if not totals:
        return 0
    totals.sort(key=lambda t: t[0])
    start = totals[0][1] - totals[0][2]  # the running total before the first event
    return max(t[1] for t in totals) - start


def peak_bytes(fn: Callable, device: torch.device) -> int:
    """Peak tensor bytes allocated by ``fn`` above what was alive before."""
    if device.type == 'cuda':
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    return _cpu_peak_bytes(fn)


def measure_pair(ours: nn.Module, ref: nn.Module, inputs, device, repeats, warmup,
                 clock) -> Dict[str, float]:
    """Latency and peak memory of inference and of a training step."""

    def infer(module):
        with torch.no_grad():
            module(*inputs)

    def train_step(module):
        module.zero_grad(set_to_none=True)
        module(*inputs).float().square().mean().backward()
        module.zero_grad(set_to_none=True)

    result = {}
    for mode, step in (('fwd', infer), ('train', train_step)):
        for module in (ours, ref):
            module.train(mode == 'train')
        fns = (functools.partial(step, ours), functools.partial(step, ref))
        result[f'ours_{mode}_ms'], result[f'ref_{mode}_ms'] = _median_ms_pair(
            fns, device, repeats, warmup, clock)
        result[f'ours_{mode}_mb'] = peak_bytes(fns[0], device) / 2**20
        result[f'ref_{mode}_mb'] = peak_bytes(fns[1], device) / 2**20
    for module in (ours, ref):
        module.eval()
    return result


def max_diff(ours, ref, inputs) -> float:
    ours.eval()
    ref.eval()
    with torch.no_grad():
        return (ours(*inputs) - ref(*inputs)).abs().max().item()


def run_benchmark(names: List[str], shape, fla_shape, device, repeats, warmup,
                  clock=time.perf_counter) -> List[dict]:
    rows = []
    jobs = [(name, shape) for name in names]
    if 'FullyAttentionalBlock' in names and fla_shape is not None and fla_shape != shape:
        jobs.append(('FullyAttentionalBlock', fla_shape))
    for name, job_shape in jobs:
        torch.manual_seed(0)
        ours, ref = make_pair(name, job_shape[1], device)
        inputs = make_inputs(name, job_shape, device)
        row = dict(block=name, shape='x'.join(map(str, job_shape)))
        row['max_diff'] = max_diff(ours, ref, inputs)
        row.update(measure_pair(ours, ref, inputs, device, repeats, warmup, clock))
        rows.append(row)
        del ours, ref, inputs
    return rows


def format_table(rows: List[dict]) -> str:
    lines = [
        '| block | input (N x C x H x W) | max abs diff | fwd ms ours / ref (ratio) | '
        'fwd peak MiB ours / ref (ratio) | train ms ours / ref (ratio) | '
        'train peak MiB ours / ref (ratio) |', '|---|---|---|---|---|---|---|'
    ]

    def cell(row, key, fmt):
        ours, ref = row[f'ours_{key}'], row[f'ref_{key}']
        ratio = ours / ref if ref else float('nan')
        return f'{ours:{fmt}} / {ref:{fmt}} ({ratio:.2f})'

    for row in rows:
        lines.append(f"| {row['block']} | {row['shape']} | {row['max_diff']:.1e} | "
                     f"{cell(row, 'fwd_ms', '.1f')} | {cell(row, 'fwd_mb', '.1f')} | "
                     f"{cell(row, 'train_ms', '.1f')} | {cell(row, 'train_mb', '.1f')} |")
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Parameter table for docs/blocks.md
# ---------------------------------------------------------------------------

# name -> (paper, formula, constructor arguments besides in_channels=256, placement)
PARAMS_TABLE = [
    ('SqueezeExcitation', '[SENet](https://arxiv.org/abs/1709.01507)',
     '`y = x * gate(W2 relu(W1 avg(x)))`', dict(ratio=16),
     'after conv3 of a ResNet bottleneck (plugin); on head features'),
    ('ChannelAttention', '[CBAM](https://arxiv.org/abs/1807.06521)',
     '`y = x * gate(MLP(avg(x)) + MLP(max(x)))`', dict(ratio=16),
     'bottleneck plugin; first half of CBAM'),
    ('SpatialAttention', '[CBAM](https://arxiv.org/abs/1807.06521)',
     '`y = x * gate(conv7x7([mean_c(x); max_c(x)]))`', dict(kernel_size=7),
     'bottleneck plugin; second half of CBAM'),
    ('CBAM', '[CBAM](https://arxiv.org/abs/1807.06521)',
     '`x\' = x * M_c(x); y = x\' * M_s(x\')`', dict(ratio=16),
     'after conv3 of each bottleneck (plugin)'),
    ('AttentionRefinementModule', '[BiSeNet](https://arxiv.org/abs/1808.00897)',
     '`f = CBR3x3(x); y = f * gate(BN(W avg(f)))`', dict(out_channels=256),
     'BiSeNet context path on the 1/16 and 1/32 features'),
    ('PixelAttention', '[BiSeNet](https://arxiv.org/abs/1808.00897) variant',
     '`y = x * gate(BN(W x))` (`+ x` with residual)', dict(),
     'ARM replacement on the context path; head features'),
    ('SpatialAttentionRefinement', '[BiSeNet](https://arxiv.org/abs/1808.00897) variant',
     '`r = CBR1x1(x); y = x * gate(BN(conv3x3([mean_c(r); max_c(r)])))`', dict(),
     'low-level (high-resolution) features before fusion'),
    ('FeatureFusionModule', '[BiSeNet](https://arxiv.org/abs/1808.00897)',
     '`f = CBR([x_s; x_c]); y = f * gate(W2 relu(W1 avg(f))) + f`', dict(out_channels=256),
     'fusion of spatial and context paths (two inputs; C = concatenation)'),
    ('MSCAM', '[AFF](https://arxiv.org/abs/2009.14082)',
     '`y = x * gate(L(x) + G(avg(x)))`', dict(ratio=4),
     'bottleneck plugin; inside AFF / iAFF'),
    ('AFF', '[AFF](https://arxiv.org/abs/2009.14082)',
     '`w = M(x + y); z = x * w + y * (1 - w)`', dict(ratio=4),
     'skip connections, FPN lateral + top-down fusion (two inputs)'),
    ('iAFF', '[AFF](https://arxiv.org/abs/2009.14082)',
     '`x_i = AFF(x, y); w = M2(x_i); z = x * w + y * (1 - w)`', dict(ratio=4),
     'as AFF, when the initial sum is a bottleneck (two inputs)'),
    ('FullyAttentionalBlock', '[FLANet](https://arxiv.org/abs/2112.04108)',
     '`y = CBR3x3(gamma * (softmax(X_col P_row) X + softmax(X_row P_col) X) + x)`', dict(),
     'decode head on stride-8 features (FLANet head)'),
]


def params_table(channels: int = 256) -> str:
    lines = [
        f'| block (`type=`) | paper | formula | params at C = {channels} | typical placement |',
        '|---|---|---|---|---|'
    ]
    for name, paper, formula, kwargs, placement in PARAMS_TABLE:
        block = MODELS.build(dict(type=name, in_channels=channels, **kwargs))
        params = sum(p.numel() for p in block.parameters())
        args = ', '.join(f'{k}={v!r}' for k, v in kwargs.items())
        label = f'`{name}`' + (f' ({args})' if args else '')
        lines.append(f'| {label} | {paper} | {formula} | {params:,} | {placement} |')
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda, cuda:1')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs per measurement')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first')
    parser.add_argument(
        '--blocks', nargs='+', default=list(BLOCKS), choices=list(BLOCKS), metavar='NAME',
        help=f'blocks to run (default: all of {", ".join(BLOCKS)})')
    parser.add_argument(
        '--size', nargs=4, type=int, default=[2, 256, 64, 64], metavar=('N', 'C', 'H', 'W'),
        help='input size of every block (default: 2 256 64 64)')
    parser.add_argument(
        '--fla-size', nargs=4, type=int, default=[2, 512, 64, 128],
        metavar=('N', 'C', 'H', 'W'),
        help='extra FLA input size (default: 2 512 64 128); 0 0 0 0 to skip')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--timer', choices=('wall', 'cpu'), default='wall',
        help='wall: elapsed time (default); cpu: CPU time of this process, which other '
        'processes on a shared machine do not inflate (use with --threads 1 to read it as '
        'single-thread latency; CPU only)')
    parser.add_argument(
        '--params-table', action='store_true',
        help='print the markdown table of blocks and parameter counts, then exit')
    return parser.parse_args()


def main():
    args = parse_args()
    import mmseg_attn  # noqa: F401  (registers the blocks)
    if args.params_table:
        print(params_table())
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.timer == 'cpu' and device.type != 'cpu':
        raise ValueError('--timer cpu measures CPU time and needs --device cpu')
    clock = time.process_time if args.timer == 'cpu' else time.perf_counter
    fla_shape = tuple(args.fla_size) if any(args.fla_size) else None
    rows = run_benchmark(args.blocks, tuple(args.size), fla_shape, device, args.repeats,
                         args.warmup, clock)
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'timer={args.timer} repeats={args.repeats} (median); ratios are ours / reference')
    print(format_table(rows))


if __name__ == '__main__':
    main()
