"""tools/analysis_tools/benchmark.py on tiny inputs (no timing assertions)."""
import json
import os
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_attn  # noqa: F401
from tests.utils import REPO_ROOT, toy_config

TINY = 'tests/data/attention_vis_bisenet_tiny.py'


def _run(*args):
    cmd = [sys.executable, 'tools/analysis_tools/benchmark.py', *map(str, args)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def _report(work_dir):
    (name, ) = [f for f in os.listdir(work_dir) if f.startswith('fps_')]
    with open(os.path.join(work_dir, name)) as f:
        return json.load(f)


def test_benchmark_random_input_with_checkpoint(tmp_path):
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(os.path.join(REPO_ROOT, TINY)).model)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), str(ckpt))
    out = _run(TINY, ckpt, '--shape', 64, 96, '--device', 'cpu', '--num-iters', 3,
               '--num-warmup', 1, '--repeat-times', 2, '--work-dir', tmp_path / 'work')
    assert f'from path: {ckpt}' in out
    assert 'missing keys' not in out and 'unexpected key' not in out
    assert 'Average fps of 2 evaluations' in out
    report = _report(tmp_path / 'work')
    assert report['input'] == 'random image (64, 96)' and report['device'] == 'cpu'
    for run in (1, 2):
        stats = report[f'run_{run}']
        assert stats['batches'] == stats['images'] == 3
        assert report[f'overall_fps_{run}'] > 0
    assert report['average_fps'] > 0 and report['fps_variance'] >= 0
    assert report['peak_memory_mb'] > 0  # resident memory of the process
    assert 0 <= report['peak_extra_memory_mb'] <= report['peak_memory_mb']


def test_benchmark_test_dataloader(toy_cityscapes, tmp_path):
    cfg = toy_config('tests/data/fcn_r18_syncbn_toy.py', toy_cityscapes, tmp_path,
                     dataset='cityscapes')
    _run(cfg, '--num-iters', 5, '--num-warmup', 1, '--work-dir', tmp_path / 'work',
         '--device', 'cpu')
    report = _report(tmp_path / 'work')
    assert report['input'] == 'test dataloader' and report['checkpoint'] is None
    # the toy validation split has 2 images: 1 warm-up, 1 timed
    assert report['run_1']['batches'] == 1
