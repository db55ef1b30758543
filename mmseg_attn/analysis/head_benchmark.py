# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Cost of FLAHead against mmseg's attention heads on the same features.

Every head gets the same input, by default the 1/8-scale features of a
512 x 1024 image from a dilated ResNet-101 (``2048 x 64 x 128``), and runs in
eval mode without gradients: parameters, FLOPs
(:func:`~.flops.count_flops`), latency (interleaved, ratios to ``FLAHead``;
:func:`~.comparison.compare`) and the peak memory of one forward run first in a
fresh process. Next to mmseg's heads run ``FLAHead`` with its FLA block on the
explicit ``impl='chunked'`` path and the official FLANet head transcribed op
for op (:class:`mmseg_attn.testing.FLAHeadReference`, each image paired with
its own priors). ``tools/analysis_tools/benchmark.py heads`` is the command
line.
"""
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mmseg_attn.testing import FLAHeadReference

from .comparison import compare
from .flops import FLOPS_CONVENTION, count_flops
from .memory import peak_memory_in_fresh_process
from .report import markdown_table, value_ratio

__all__ = ['OFFICIAL', 'OfficialHead', 'build_head', 'head_cfgs', 'head_cost', 'head_step',
           'head_table', 'measure_heads']

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
    """Build a head and its input ``(1, C, H, W)``; return one inference forward
    (what the fresh process of the memory figure runs)."""
    register_all_modules()
    torch.manual_seed(seed)
    head = build_head(cfg).eval()
    inputs = [torch.randn(1, *shape)]

    def step():
        with torch.no_grad():
            head(inputs)

    return step


def head_cost(head: nn.Module, x: torch.Tensor) -> dict:
    """Parameters, FLOPs and the aten ops that carry them, of a head on ``x``."""
    flops = count_flops(head, [x], mode=None)['']
    return dict(params=sum(p.numel() for p in head.parameters()), flops=sum(flops.values()),
                ops=sorted(flops))


def measure_heads(shape: Sequence[int] = (2048, 64, 128), channels: int = 512,
                  num_classes: int = 19, names: Optional[Sequence[str]] = None,
                  repeats: int = 3, warmup: int = 1, memory: bool = True,
                  log: Callable[[str], None] = print) -> Dict[str, dict]:
    """Parameters, FLOPs, latency and peak memory of each head, ``FLAHead`` first.

    Returns:
        dict[str, dict]: By head: ``params``, ``flops``, ``ops`` (the aten ops
        that carry the FLOPs), ``latency`` (s), ``latency_ratio`` (paired, to
        ``FLAHead``) and ``peak`` (bytes, None without ``memory``).
    """
    register_all_modules()
    torch.manual_seed(0)
    cfgs = head_cfgs(shape[0], channels, num_classes)
    names = ['FLAHead'] + [n for n in (names or cfgs) if n in cfgs and n != 'FLAHead']
    x = torch.randn(1, *shape)
    heads = {name: build_head(cfgs[name]).eval() for name in names}
    results = {name: head_cost(head, x) for name, head in heads.items()}

    def forward(head):
        def run():
            with torch.no_grad():
                head([x])
        return run

    times = compare({n: forward(h) for n, h in heads.items()}, 'FLAHead', repeats, warmup)
    del heads
    for name in names:
        r = results[name]
        r['latency'] = times[name].median_ms / 1e3
        r['latency_ratio'] = times[name].paired
        r['peak'] = peak_memory_in_fresh_process(head_step, cfgs[name], shape) if memory \
            else None
        log(f'{name}: done ({r["latency"]:.2f} s)')
    return results


def head_table(results: Dict[str, dict], ref: str = 'FLAHead') -> str:
    """The results of :func:`measure_heads` as a markdown table, ratios to ``ref``."""
    base = results[ref]

    def cell(r, key, scale, fmt):
        if r.get(key) is None:
            return '-'
        ratio = r.get(f'{key}_ratio', r[key] / base[key] if base[key] else float('nan'))
        return value_ratio(r[key], ratio, fmt, scale)

    header = ['head', 'params (M)', f'GFLOPs ({FLOPS_CONVENTION})', 'CPU latency, median (ms)',
              'peak memory (MiB)']
    return markdown_table(header, (
        [name, cell(r, 'params', 1e6, '.2f'), cell(r, 'flops', 1e9, '.1f'),
         cell(r, 'latency', 1e-3, '.0f'), cell(r, 'peak', 2**20, '.0f')]
        for name, r in results.items()))
