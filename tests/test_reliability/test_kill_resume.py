"""A training run killed with SIGKILL and resumed ends with the weights of an
uninterrupted run with the same seed (tools/train.py, toy Cityscapes)."""
import os
import os.path as osp
import signal
import subprocess
import sys

import torch
from mmengine.config import Config

from mmseg_attn.compat import load_checkpoint_file
from tests.utils import REPO_ROOT, last_checkpoint, signal_after_first_checkpoint, toy_config

# the demo at 1/8 of its widths: bit-equal states do not depend on the widths
DEMO_CONFIG = 'tests/data/demo_tiny.py'
MAX_ITERS = 20
INTERVAL = 5


def _config(data_root, work_dir) -> str:
    cfg = Config.fromfile(DEMO_CONFIG)
    # the hooks of our runtime base (RNGStateHook, FiniteLossHook, ...)
    cfg.custom_hooks = Config.fromfile('configs/_base_/default_runtime.py').custom_hooks

    return toy_config(
        cfg, data_root, work_dir, dataset='cityscapes', max_iters=MAX_ITERS,
        cfg_options={
            'randomness': dict(seed=0, deterministic=True),
            'default_hooks.checkpoint.interval': INTERVAL,
            # validation right after every checkpoint: it must not shift the
            # random numbers of the uninterrupted run against the resumed one
            'train_cfg.val_interval': INTERVAL,
        })


def _train_cmd(cfg, work_dir, *extra):
    return [sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir), *extra]


def _run(cmd, log):
    with open(log, 'w') as f:
        result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT,
                                timeout=900)
    with open(log) as f:
        out = f.read()
    assert result.returncode == 0, out[-6000:]
    return out


def _kill_after_first_checkpoint(cmd, work_dir, log) -> str:
    """Start training, SIGKILL it once a checkpoint exists; return that checkpoint."""
    status = signal_after_first_checkpoint(cmd, work_dir, log, signal.SIGKILL, timeout=60)
    assert status == -signal.SIGKILL
    return last_checkpoint(work_dir)


def test_kill_and_resume_equals_uninterrupted_run(toy_cityscapes, tmp_path):
    ref_dir, run_dir = tmp_path / 'uninterrupted', tmp_path / 'killed'
    cfg = _config(toy_cityscapes, ref_dir)

    _run(_train_cmd(cfg, ref_dir), tmp_path / 'uninterrupted.log')
    assert osp.basename(last_checkpoint(ref_dir)) == f'iter_{MAX_ITERS}.pth'

    killed_at = _kill_after_first_checkpoint(_train_cmd(cfg, run_dir), run_dir,
                                             tmp_path / 'killed.log')
    resumed_iter = int(osp.basename(killed_at)[len('iter_'):-len('.pth')])
    assert INTERVAL <= resumed_iter < MAX_ITERS
    assert not osp.exists(run_dir / f'iter_{MAX_ITERS}.pth')

    out = _run(_train_cmd(cfg, run_dir, '--resume'), tmp_path / 'resumed.log')
    assert f'resumed epoch: 0, iter: {resumed_iter}' in out
    assert f'random generator states restored at iteration {resumed_iter}' in out

    ref = load_checkpoint_file(str(ref_dir / f'iter_{MAX_ITERS}.pth'), 'cpu')
    got = load_checkpoint_file(str(run_dir / f'iter_{MAX_ITERS}.pth'), 'cpu')
    ref_state, got_state = ref['state_dict'], got['state_dict']
    assert ref_state.keys() == got_state.keys()
    # parameters and buffers (BN statistics, num_batches_tracked) alike
    assert any(k.endswith('running_mean') for k in ref_state)
    assert any(k.endswith('num_batches_tracked') for k in ref_state)
    different = [k for k in ref_state if not torch.equal(ref_state[k], got_state[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:5]}'
    # the optimizer's momentum too
    ref_opt, got_opt = ref['optimizer']['state'], got['optimizer']['state']
    assert ref_opt.keys() == got_opt.keys() and ref_opt
    for k in ref_opt:
        assert torch.equal(ref_opt[k]['momentum_buffer'], got_opt[k]['momentum_buffer'])
    # the generator states are in the checkpoint and load with weights_only=True
    assert set(got['rng_state']) >= {'torch', 'numpy', 'python'}
    plain = torch.load(str(run_dir / f'iter_{MAX_ITERS}.pth'), map_location='cpu',
                       weights_only=True)
    assert torch.equal(plain['rng_state']['torch'], got['rng_state']['torch'])
    # every checkpoint file is complete (writes are atomic), the one the kill
    # may have interrupted included
    for name in os.listdir(run_dir):
        if name.endswith('.pth'):
            assert 'state_dict' in load_checkpoint_file(str(run_dir / name), 'cpu')
