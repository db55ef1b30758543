"""tools/get_flops.py end to end: matmuls are counted, the parts add up."""
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
    cmd = [sys.executable, 'tools/get_flops.py', CONFIG, '--shape', str(h), str(w), '--depth',
           '2', '--json', str(out_json)]
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
