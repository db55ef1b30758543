"""tools/analysis_tools/benchmark.py blocks on tiny inputs (no timing assertions)."""
import pytest

from mmseg_attn.analysis import block_benchmark
from mmseg_attn.testing import block_accepts
from tests.utils import load_tool

benchmark = load_tool('tools/analysis_tools/benchmark.py')


def _main(capsys, *args):
    benchmark.main(['blocks', *map(str, args)])
    return capsys.readouterr().out


def test_table_of_two_blocks(capsys):
    out = _main(capsys, '--blocks', 'SqueezeExcitation', 'AFF', '--size', 2, 32, 6, 5,
                '--fla-size', 0, 0, 0, 0, '--repeats', 1, '--warmup', 0, '--no-memory')
    rows = [line.split(' | ') for line in out.splitlines() if line.startswith('| ')][1:]
    assert [r[0] for r in rows] == ['| SqueezeExcitation', '| AFF']
    for row in rows:
        assert row[1] == '2x32x6x5'
        assert float(row[2]) < 1e-5  # the block and its reference agree
        assert row[4] == '-' and row[6] == '- |'  # no memory asked


def test_fla_rows_per_size_and_implementation():
    fla = block_benchmark.FLA
    jobs = block_benchmark.block_jobs([fla, 'CBAM'], (2, 8, 6, 5), [(1, 8, 5, 5), (2, 8, 6, 5)],
                                      ['auto', 'chunked'])
    if block_accepts(fla, 'impl'):
        kwargs = [dict(impl='auto'), dict(impl='chunked')]
    else:  # before the block takes impl= the option is ignored
        kwargs = [{}]
    expected = [(fla, s, k) for s in ((2, 8, 6, 5), (1, 8, 5, 5)) for k in kwargs]
    assert jobs == expected + [('CBAM', (2, 8, 6, 5), {})]


def test_fla_size_groups_of_four(capsys):
    with pytest.raises(SystemExit):
        _main(capsys, '--fla-size', 1, 2, 3)
    assert 'groups of four' in capsys.readouterr().err
