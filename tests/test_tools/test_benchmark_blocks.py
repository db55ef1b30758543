"""tools/benchmark_blocks.py on tiny inputs (no timing assertions)."""
import os.path as osp
import runpy
import sys

import pytest

from mmseg_attn.testing import block_accepts
from tests.utils import REPO_ROOT

bench = runpy.run_path(osp.join(REPO_ROOT, 'tools', 'benchmark_blocks.py'),
                       run_name='benchmark_blocks')


def _main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, 'argv', ['benchmark_blocks.py', *map(str, args)])
    bench['main']()
    return capsys.readouterr().out


def test_table_of_two_blocks(monkeypatch, capsys):
    out = _main(monkeypatch, capsys, '--blocks', 'SqueezeExcitation', 'AFF', '--size', 2, 32, 6,
                5, '--fla-size', 0, 0, 0, 0, '--repeats', 1, '--warmup', 0, '--no-memory')
    rows = [line.split(' | ') for line in out.splitlines() if line.startswith('| ')][1:]
    assert [r[0] for r in rows] == ['| SqueezeExcitation', '| AFF']
    for row in rows:
        assert row[1] == '2x32x6x5'
        assert float(row[2]) < 1e-5  # the block and its reference agree
        assert row[4] == '-' and row[6] == '- |'  # no memory asked


def test_fla_rows_per_size_and_implementation():
    fla = bench['FLA']
    jobs = bench['jobs']([fla, 'CBAM'], (2, 8, 6, 5), [(1, 8, 5, 5), (2, 8, 6, 5)],
                      ['auto', 'chunked'])
    if block_accepts(fla, 'impl'):
        kwargs = [dict(impl='auto'), dict(impl='chunked')]
    else:  # before the block takes impl= the option is ignored
        kwargs = [{}]
    expected = [(fla, s, k) for s in ((2, 8, 6, 5), (1, 8, 5, 5)) for k in kwargs]
    assert jobs == expected + [('CBAM', (2, 8, 6, 5), {})]


def test_params_table(monkeypatch, capsys):
    out = _main(monkeypatch, capsys, '--params-table')
    assert out.startswith('| block (`type=`) | paper | formula | params at C = 256 |')
    assert '| `CBAM` (ratio=16) |' in out


def test_fla_size_groups_of_four(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _main(monkeypatch, capsys, '--fla-size', 1, 2, 3)
    assert 'groups of four' in capsys.readouterr().err
