"""tools/train.py and tools/test.py: mmseg's command line, with mmseg_attn imported."""
import os
import os.path as osp
import re
import subprocess
import sys

import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT, last_checkpoint, mmseg_tool_path, toy_config

CONFIG = 'tests/data/fcn_r18_syncbn_toy.py'


def _run(script, *args, check=True):
    cmd = [sys.executable, script, *map(str, args)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    if check:
        assert result.returncode == 0, result.stdout[-6000:]
    return result


def _usage(script):
    """The argparse usage and option lines of ``script --help``, program name removed."""
    text = _run(script, '--help').stdout
    text = text.replace(osp.basename(script), 'PROG')
    usage = re.search(r'usage: PROG(.*?)\n\n', text, re.S).group(1)
    return ' '.join(usage.split()), sorted(set(re.findall(r'(?<![\w-])--?[\w-]+', text)))


def test_cli_is_mmseg_cli():
    for tool in ('train', 'test'):
        ours = _usage(osp.join('tools', f'{tool}.py'))
        assert ours == _usage(mmseg_tool_path(tool)), tool


def _launched(script, *args, tmp_path):
    """What a launch script runs: ``python`` and ``srun`` are stand-ins that print
    their arguments; the folder of the script is replaced by ``TOOLS``."""
    stubs = tmp_path / 'bin'
    stubs.mkdir(exist_ok=True)
    for name in ('python', 'srun'):
        stub = stubs / name
        stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$(basename "$0")" "$@"\n')
        stub.chmod(0o755)
    env = dict(os.environ, PATH=f'{stubs}:{os.environ["PATH"]}', PYTHONPATH='')
    result = subprocess.run(['bash', script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=60, env=env)
    assert result.returncode == 0, script
    return result.stdout.replace(osp.dirname(script) + '/', 'TOOLS/').splitlines()


def test_shell_scripts_launch_what_mmseg_scripts_launch(tmp_path):
    """Same command lines as mmseg's scripts, for the same arguments and environment."""
    cases = {
        'dist_train.sh': ('cfg.py', '2', '--work-dir', 'w', '--amp'),
        'dist_test.sh': ('cfg.py', 'ckpt.pth', '2', '--out', 'o'),
        'slurm_train.sh': ('part', 'job', 'cfg.py', '--resume'),
        'slurm_test.sh': ('part', 'job', 'cfg.py', 'ckpt.pth', '--tta'),
    }
    mmseg_tools = osp.dirname(mmseg_tool_path('train'))
    for name, args in cases.items():
        ours = _launched(osp.join(REPO_ROOT, 'tools', name), *args, tmp_path=tmp_path)
        theirs = _launched(osp.join(mmseg_tools, name), *args, tmp_path=tmp_path)
        assert ours == theirs, name
        assert ours[0] in ('python', 'srun') and args[-1] in ours, (name, ours)
        assert os.access(osp.join(REPO_ROOT, 'tools', name), os.X_OK), name


def test_train_then_test_without_custom_imports(toy_cityscapes, tmp_path):
    """A config naming an mmseg_attn block but not importing mmseg_attn."""
    work_dir = tmp_path / 'work'
    path = toy_config(CONFIG, toy_cityscapes, work_dir, dataset='cityscapes', max_iters=4)
    cfg = Config.fromfile(path)
    cfg.pop('custom_imports')
    cfg.model.backbone.type = 'PluginResNetV1c'
    cfg.model.backbone.plugins = [
        dict(cfg=dict(type='SqueezeExcitation', ratio=4), position='after_conv2')]
    cfg.dump(path)

    stock = _run(mmseg_tool_path('train'), path, '--work-dir', tmp_path / 'stock', check=False)
    assert stock.returncode != 0 and 'PluginResNetV1c' in stock.stdout

    out = _run('tools/train.py', path, '--work-dir', work_dir).stdout
    assert re.search(r'Iter\(train\) \[4/4\]', out)
    ckpt = last_checkpoint(work_dir)
    assert osp.basename(ckpt) == 'iter_4.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    assert any(k.startswith('backbone.layer1.0.se.') for k in state)

    out = _run('tools/test.py', path, ckpt, '--work-dir', tmp_path / 'test').stdout
    assert f'Load checkpoint from {ckpt}' in out
    miou = re.search(r'Iter\(test\).*mIoU: ([\d.]+)', out)
    assert miou and 0 <= float(miou.group(1)) <= 100
