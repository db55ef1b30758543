# Copyright (c) mmseg_attn contributors. All rights reserved.
import importlib.util
import os.path as osp
import sys

import torch
import torch.nn as nn

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO_ROOT, 'tools', 'benchmark_heads.py')
    spec = importlib.util.spec_from_file_location('benchmark_heads', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_tool()


def test_peak_memory_mode_counts_live_storages():
    x = torch.ones(1024)  # 4 KiB, existed before: not counted
    kib4 = 1024 * 4
    mode = bench.PeakMemoryMode([x])
    with mode:
        a = x * 2  # 4 KiB
        b = a + 1  # 8 KiB alive
        view = b.view(32, 32)  # same storage: nothing new
        b.add_(1)  # in place: nothing new
        del a  # 4 KiB alive
        c = view * 3  # 8 KiB alive again
        assert mode.current == 2 * kib4
        del b, view, c
    assert mode.peak == 2 * kib4
    assert mode.current == 0


class _Conv(nn.Module):
    """A 'head' that is one 1x1 conv, for a hand count of its cost."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, inputs):
        return self.conv(inputs[0])


def test_measure_counts_flops_and_memory():
    head = _Conv().eval()
    x = torch.randn(1, 4, 5, 5)
    r = bench.measure(head, x, warmup=0, repeat=2)
    assert r['params'] == 4 * 8 + 8
    assert r['flops'] == 2 * 4 * 8 * 25  # multiply-adds of the conv, x2
    assert r['ops'] == ['convolution']
    assert r['peak'] == 8 * 25 * 4  # the float32 output
    assert r['latency'] > 0


def test_main_prints_table(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_heads.py', '--shape', '16', '8', '10', '--channels', '8', '--repeat', '1',
        '--warmup', '0'
    ])
    bench.main()
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith('| ') and 'x) |' in line]
    names = [row.split(' | ')[0][2:] for row in rows]
    assert names == [
        'FLAHead', 'FLAHead (no x2 upsample)', 'DAHead', 'NLHead', 'GCHead', 'CCHead'
    ]
    assert rows[0].count('(1.00x)') == 4
    assert 'FlopCounterMode' in out
