"""mmseg's own tools/train.py and tools/test.py on the toy Cityscapes, with
checkpoints saved and loaded back through weights_only loading."""
import os.path as osp
import re

from tests.utils import last_checkpoint, run_mmseg_tool, toy_config

DEMO_CONFIG = 'tests/data/demo_tiny.py'  # the demo at 1/8 of its widths


def test_train_test_resume(toy_cityscapes, tmp_path):
    work_dir = tmp_path / 'work'
    cfg = toy_config(DEMO_CONFIG, toy_cityscapes, work_dir, dataset='cityscapes', max_iters=10)

    out = run_mmseg_tool('train', cfg, '--work-dir', work_dir).stdout
    ckpt = last_checkpoint(work_dir)
    assert osp.basename(ckpt) == 'iter_10.pth'
    assert 'mIoU' in out

    out = run_mmseg_tool('test', cfg, ckpt, '--work-dir', work_dir / 'test').stdout
    assert 'Weights only load failed' not in out
    assert 'Load checkpoint from' in out
    miou = re.search(r'mIoU: ([\d.]+)', out)
    assert miou and 0 <= float(miou.group(1)) <= 100

    # resume from iter_10 and train on to 20 iterations
    out = run_mmseg_tool('train', cfg, '--work-dir', work_dir, '--resume', '--cfg-options',
                         'train_cfg.max_iters=20', 'default_hooks.checkpoint.interval=20').stdout
    assert 'resumed epoch: 0, iter: 10' in out
    assert re.search(r'Iter\(train\) \[20/20\]', out)
    assert osp.basename(last_checkpoint(work_dir)) == 'iter_20.pth'


def test_stock_test_tool_refuses_foreign_checkpoint(toy_cityscapes, tmp_path):
    """A checkpoint whose unpickling would run a command: refused, nothing ran."""
    import torch

    from tests.test_security.helpers import RunsACommand
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta={}, payload=RunsACommand(marker)), str(evil))
    cfg = toy_config(DEMO_CONFIG, toy_cityscapes, tmp_path, dataset='cityscapes')
    result = run_mmseg_tool('test', cfg, evil, '--work-dir', tmp_path / 'test', check=False)
    assert result.returncode != 0
    assert 'Refused to load the checkpoint' in result.stdout
    assert not marker.exists()
