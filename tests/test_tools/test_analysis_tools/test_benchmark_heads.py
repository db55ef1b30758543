# Copyright (c) mmseg_attn contributors. All rights reserved.
"""tools/analysis_tools/benchmark.py heads on tiny features (no timing assertions)."""
import torch
import torch.nn as nn

from mmseg_attn.analysis import head_benchmark
from mmseg_attn.testing import conv_flops
from tests.utils import load_tool

bench = head_benchmark
benchmark = load_tool('tools/analysis_tools/benchmark.py')


class _Conv(nn.Module):
    """A 'head' that is one 1x1 conv, for a hand count of its cost."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, inputs):
        return self.conv(inputs[0])


def test_measure_counts_params_and_flops():
    r = bench.head_cost(_Conv().eval(), torch.randn(1, 4, 5, 5))
    assert r['params'] == 4 * 8 + 8
    assert r['flops'] == conv_flops(1, 4, 8, 5, 5) == 2 * 4 * 8 * 25  # multiply-adds x2
    assert r['ops'] == ['convolution']


def test_head_step_builds_a_registered_head():
    cfg = bench.head_cfgs(16, 8, 3)['FLAHead']
    step = bench.head_step(cfg, (16, 8, 10))
    step()  # one inference forward on a (1, 16, 8, 10) input


def test_official_head_takes_a_list_of_features():
    cfg = bench.head_cfgs(16, 8, 3)['official FLANet head (batch fixed)']
    head = bench.build_head(cfg).eval()
    assert head.head.fully.fix_batch
    assert head([torch.randn(2, 16, 8, 10)]).shape == (2, 3, 16, 20)  # x2 upsampled
    bench.head_step(cfg, (16, 8, 10))()


def _main(monkeypatch, capsys, *args):
    benchmark.main(['heads', '--shape', '16', '8', '10', '--channels', '8', '--repeat', '1',
                    '--warmup', '0', *args])
    out = capsys.readouterr().out
    return [line for line in out.splitlines() if line.startswith('| ') and 'x) |' in line], out


def test_main_prints_table(monkeypatch, capsys):
    rows, out = _main(monkeypatch, capsys, '--no-memory')
    names = [row.split(' | ')[0][2:] for row in rows]
    assert names == [
        'FLAHead', 'FLAHead (no x2 upsample)', "FLAHead (FLA impl='chunked')",
        'official FLANet head (batch fixed)', 'DAHead', 'NLHead', 'GCHead', 'CCHead'
    ]
    assert rows[0].count('(1.00x)') == 3 and rows[0].endswith(' | - |')
    # the chunked path and the official head have FLAHead's parameters and FLOPs
    for row in rows[2:4]:
        assert row.split(' | ')[1:3] == rows[0].split(' | ')[1:3]
    assert 'FlopCounterMode' in out and '1 multiply-add = 2 FLOPs' in out


def test_main_measures_memory_in_fresh_processes(monkeypatch, capsys):
    rows, _ = _main(monkeypatch, capsys, '--heads', 'FLAHead')
    # a figure (not '-') whose ratio to itself is 1: the forward took memory
    assert len(rows) == 1 and rows[0].count('(1.00x)') == 4
    assert not rows[0].endswith(' | - |')
