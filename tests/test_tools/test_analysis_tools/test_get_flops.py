"""tools/analysis_tools/get_flops.py end to end: matmuls are counted, the parts add up."""
import json
import os
import subprocess
import sys

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_attn  # noqa: F401
from mmseg_attn.testing import conv_flops, fla_matmul_flops
from tests.utils import REPO_ROOT

CONFIG = 'tests/data/attention_vis_bisenet_tiny.py'


def test_get_flops_tool(tmp_path):
    out_json = tmp_path / 'flops.json'
    h, w = 64, 96
    cmd = [sys.executable, 'tools/analysis_tools/get_flops.py', CONFIG, '--shape', str(h),
           str(w), '--depth', '2', '--json', str(out_json)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stdout[-6000:]
    assert '| decode_head.fla' in result.stdout.replace('  ', '')
    assert 'FLOPs:' in result.stdout and 'Params:' in result.stdout
    assert '1 multiply-add = 2 FLOPs' in result.stdout

    with open(out_json) as f:
        report = json.load(f)
    rows = {r['name']: r for r in report['rows']}
    assert max(r['depth'] for r in report['rows']) == 2
    # the FLA input is the FFM output at 1/8 (three stride-2 convs of the
    # spatial path), with the head's 16 channels
    c, fh, fw = 16, h // 8, w // 8
    fla = rows['decode_head.fla']
    assert fla['type'] == 'FullyAttentionalBlock'
    assert fla['matmul_flops'] == fla_matmul_flops(1, c, fh, fw)
    assert fla['flops'] == fla['matmul_flops'] + conv_flops(1, c, c, fh, fw, 3)
    # no other matrix products in this model: convs only elsewhere
    assert report['rows'][0]['matmul_flops'] == fla['matmul_flops']
    # the parts add up to the whole and the head holds its children
    top = [r for r in report['rows'] if r['depth'] == 1]
    assert sum(r['flops'] for r in top) == report['flops']
    head = [r for r in report['rows'] if r['name'].startswith('decode_head.')]
    assert rows['decode_head']['flops'] == sum(r['flops'] for r in head)
    assert report['macs'] == report['flops'] / 2

    cfg = Config.fromfile(os.path.join(REPO_ROOT, CONFIG))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    assert report['params'] == sum(p.numel() for p in model.parameters())


def test_attention_table_of_configs_against_their_bases(tmp_path):
    """--attention-table: the README table of configs/attention, each config next to
    the config it inherits (printed only here)."""
    from mmseg_attn.analysis import cost_table
    config = os.path.join(REPO_ROOT, 'configs', 'attention',
                          'fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py')
    assert cost_table.base_of(config) == 'mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py'
    cmd = [sys.executable, 'tools/analysis_tools/get_flops.py', '--attention-table', config,
           '--shape', '64', '64', '--print-only']
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=600, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stdout[-6000:]
    (row, ) = [line for line in result.stdout.splitlines()
               if line.startswith('| fcn_r18-d8-cbam')]
    cells = row.strip('| ').split(' | ')
    assert cells[1:3] == ['fcn_r18-d8_4xb2-80k_cityscapes-512x1024', '64x64']
    assert cells[4].startswith('+') and cells[6].startswith('+')  # CBAM adds to both
    assert '1 multiply-add = 2 FLOPs' in result.stdout
    text = f'a\n{cost_table.BEGIN}\nold\n{cost_table.END}\nb'
    assert cost_table.replace_section(text, 'new') == \
        f'a\n{cost_table.BEGIN}\nnew\n{cost_table.END}\nb'
