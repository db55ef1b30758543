# Copyright (c) mmseg_attn contributors. All rights reserved.
"""tools/analysis_tools/benchmark.py --backend onnxruntime and the fast-path flags, and
tools/deployment/benchmark_deploy.py (no timing asserts)."""
import json
import os
import os.path as osp

import pytest

from tests.families import config_path
from tests.utils import load_tool


def _run(monkeypatch, *args):
    load_tool('tools/analysis_tools/benchmark.py').main(list(map(str, args)))


def _report(work_dir):
    (name, ) = [f for f in os.listdir(work_dir) if f.startswith('fps_')]
    with open(osp.join(work_dir, name)) as f:
        return json.load(f)


def test_onnxruntime_backend(monkeypatch, tmp_path, capsys):
    work = tmp_path / 'ort'
    _run(monkeypatch, config_path('fcn_se_cbam'), '--shape', 32, 48, '--backend',
         'onnxruntime', '--num-iters', 3, '--num-warmup', 1, '--work-dir', work)
    out = capsys.readouterr().out
    assert f'Exported to {work}' in out and 'Median latency:' in out and 'FPS' in out
    report = _report(work)
    assert report['backend'] == 'onnxruntime' and report['device'] == 'cpu'
    assert report['run_1']['batches'] == 3 and report['median_latency_ms'] > 0
    assert report['peak_memory_mb'] > 0
    # an exported file is timed as it is
    work2 = tmp_path / 'ort2'
    _run(monkeypatch, config_path('fcn_se_cbam'), '--shape', 32, 48, '--backend',
         'onnxruntime', '--onnx-file', work / 'model.onnx', '--num-iters', 2,
         '--num-warmup', 1, '--work-dir', work2)
    assert 'Exported' not in capsys.readouterr().out
    assert _report(work2)['run_1']['batches'] == 2


def test_pytorch_fast_path_flags(monkeypatch, tmp_path, capsys):
    _run(monkeypatch, config_path('bisenet_mmseg'), '--shape', 32, 48, '--fuse-conv-bn',
         '--channels-last', '--num-iters', 2, '--num-warmup', 1, '--device', 'cpu',
         '--work-dir', tmp_path)
    out = capsys.readouterr().out
    assert 'pytorch --fuse-conv-bn --channels-last' in out and 'Median latency:' in out
    assert _report(tmp_path)['backend'] == 'pytorch --fuse-conv-bn --channels-last'


def test_backend_flag_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match='--fuse-conv-bn apply to --backend pytorch'):
        _run(monkeypatch, config_path('fcn_se_cbam'), '--shape', 32, 48, '--backend',
             'onnxruntime', '--fuse-conv-bn', '--work-dir', tmp_path)
    with pytest.raises(ValueError, match='--onnx-file needs --backend onnxruntime'):
        _run(monkeypatch, config_path('fcn_se_cbam'), '--shape', 32, 48, '--onnx-file',
             'm.onnx', '--work-dir', tmp_path)
    with pytest.raises(SystemExit):
        _run(monkeypatch, config_path('fcn_se_cbam'), '--backend', 'tensorrt')


def _run_deploy_benchmark(monkeypatch, *args):
    return load_tool('tools/deployment/benchmark_deploy.py').main(list(map(str, args)))


def test_deploy_benchmark_against_mmseg(monkeypatch, capsys):
    """The BiSeNet comparison: seven rows, equal fp32 logits, close low-precision ones, the
    FLOP rates, the float32 floor, the low-precision ratios and the CPU features."""
    _run_deploy_benchmark(monkeypatch, '--shape', 32, 64, '--repeat', 1, '--warmup', 0)
    out = capsys.readouterr().out
    rows = {line.split(' | ')[0][2:]: line.split(' | ') for line in out.splitlines()
            if line.startswith('| mmseg') or line.startswith('| ours')}
    assert list(rows) == ['mmseg BiSeNetV1 (eager)', 'ours (eager)', 'ours (fast path)',
                          'ours (ONNX Runtime)', 'ours (ONNX Runtime INT8)',
                          'ours (fast path, bf16)', 'ours, paper variant (eager)']
    paper = rows.pop('ours, paper variant (eager)')
    assert paper[5] == '-'
    assert float(paper[7].rstrip(' |')) > float(rows['ours (eager)'][7].rstrip(' |'))
    for name, cells in rows.items():
        low = 'INT8' in name or 'bf16' in name
        assert float(cells[5]) < (0.2 if low else 1e-4), name  # logits as mmseg's
        assert cells[6].endswith('%)') and float(cells[6].split()[0]) > 0  # GFLOP/s
        assert float(cells[7].rstrip(' |')) == float(rows['ours (eager)'][7].rstrip(' |'))
    assert 'INT8 ONNX Runtime / fp32 ONNX Runtime: ' in out and 'target <= 0.55x' in out
    assert "the fastest low-precision path, ours (" in out and 'target <= 0.15x' in out
    assert 'CPU features: AVX2 ' in out and 'AMX ' in out
    assert 'GFLOPs (1 multiply-add = 2 FLOPs)' in out
    assert 'no float32 path runs these' in out and "x of mmseg's eager median" in out


def test_deploy_benchmark_per_config(monkeypatch, capsys):
    assert _run_deploy_benchmark(monkeypatch, '--configs', config_path('fcn_se_cbam'),
                                 '--shape', 32, 48, '--repeat', 1, '--warmup', 0) == 0
    (row, ) = [line for line in capsys.readouterr().out.splitlines()
               if line.startswith('| deploy_fcn_se_cbam_tiny')]
    cells = row.strip('| ').split(' | ')
    assert float(cells[1]) > 0 and max(map(float, cells[4:6])) < 1e-4
