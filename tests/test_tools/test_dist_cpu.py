"""tools/dist_train.sh and tools/dist_test.sh with 2 processes on the CPU.

The config keeps mmseg's SyncBN (given back on the command line after
``toy_config`` turned it into BN): the tools must turn it into BN, create a
gloo process group and wrap DDP without device ids. A test-only hook
(tests/data/rank_state_dump.py) makes every rank save its final state so
the ranks can be compared.
"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT, last_checkpoint, toy_config

CONFIG = 'tests/data/fcn_r18_syncbn_toy.py'
SYNC_BN = [f'model.{part}.norm_cfg.type=SyncBN'
           for part in ('backbone', 'decode_head', 'auxiliary_head')]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run_script(script, *args, timeout=900):
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = osp.join(REPO_ROOT, 'tests', 'data')
    env['PORT'] = str(_free_port())
    env['CUDA_VISIBLE_DEVICES'] = ''  # the CPU path even where a GPU exists
    env['PYTHONWARNINGS'] = 'ignore'
    cmd = ['bash', osp.join('tools', script), *map(str, args)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f'{" ".join(cmd)} failed:\n{result.stdout[-6000:]}'
    return result.stdout


def test_dist_train_and_test_on_cpu(toy_cityscapes, tmp_path):
    work_dir = tmp_path / 'work'
    path = toy_config(CONFIG, toy_cityscapes, work_dir, dataset='cityscapes', max_iters=10)
    cfg = Config.fromfile(path)
    cfg.custom_imports = dict(imports=['mmseg_attn', 'rank_state_dump'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='RankStateDumpHook')]
    cfg.dump(path)

    out = _run_script('dist_train.sh', path, 2, '--work-dir', work_dir, '--cfg-options',
                      *SYNC_BN)
    assert 'CPU distributed run: gloo process group of 2 ranks' in out
    assert re.search(r'Iter\(train\) \[10/10\]', out)
    assert 'mIoU' in out

    # both ranks finished training, with identical parameters and buffers
    states = [torch.load(str(work_dir / f'rank{r}_state.pth')) for r in range(2)]
    assert states[0].keys() == states[1].keys()
    names = [k for k, v in states[0].items() if v.is_floating_point()]
    assert any('running_mean' in k for k in names)  # BN buffers are compared too
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    # the checkpoint holds exactly that state
    ckpt = last_checkpoint(work_dir)
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    for key in states[0]:
        assert torch.equal(saved[key], states[0][key]), key
    # SyncBN became BN in the model that was built
    dumped = Config.fromfile(next(work_dir.glob('*/vis_data/config.py')),
                             import_custom_modules=False)
    assert dumped.model.backbone.norm_cfg.type == 'BN'
    assert dumped.model_wrapper_cfg.device_ids is None

    out = _run_script('dist_test.sh', path, ckpt, 2, '--work-dir', tmp_path / 'test',
                      '--cfg-options', *SYNC_BN)
    assert 'CPU distributed run: gloo process group of 2 ranks' in out
    assert f'Load checkpoint from {ckpt}' in out
    miou = re.search(r'Iter\(test\).*mIoU: ([\d.]+)', out)
    assert miou and 0 <= float(miou.group(1)) <= 100
