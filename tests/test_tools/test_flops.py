"""tools/get_flops.py and mmseg_attn.apis.module_costs: matmuls are counted."""
import json
import os
import subprocess
import sys

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_attn  # noqa: F401
from mmseg_attn.apis import module_costs
from mmseg_attn.models.layers import FullyAttentionalBlock
from tests.utils import REPO_ROOT

CONFIG = 'tests/data/attention_vis_bisenet_tiny.py'


def fla_matmul_flops(n, c, h, w):
    """Matrix products of a Fully Attentional block, 2 FLOPs per multiply-add.

    Per image, for each of the W columns: energy (C x H) @ (H x C) and
    aggregation (C x C) @ (C x H), each 2*C*C*H; the same for each of the H
    rows with W. The priors are two Linear(C, C) over the H row means and the
    W column means: 2*C*C*(H + W).
    """
    columns = w * (2 * c * h * c + 2 * c * c * h)
    rows = h * (2 * c * w * c + 2 * c * c * w)
    priors = 2 * c * c * h + 2 * c * c * w
    return n * (columns + rows + priors)


def conv3x3_flops(n, c_in, c_out, h, w):
    return n * 2 * c_in * 9 * c_out * h * w


def test_fla_block_matmuls_are_counted():
    n, c, h, w = 2, 16, 6, 10
    block = FullyAttentionalBlock(c, chunk_size=4).eval()
    rows = module_costs(block, torch.randn(n, c, h, w), mode=None)
    total = rows[0]
    assert total.matmul_flops == fla_matmul_flops(n, c, h, w)
    assert total.conv_flops == conv3x3_flops(n, c, c, h, w)  # the output conv, no bias
    assert total.flops == total.matmul_flops + total.conv_flops
    assert total.params == sum(p.numel() for p in block.parameters())
    by_name = {r.name: r for r in rows}
    assert by_name['conv1'].matmul_flops == n * 2 * c * c * h  # row priors
    assert by_name['conv2'].matmul_flops == n * 2 * c * c * w  # column priors


def test_flops_are_twice_mmengine_macs_on_convs():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 4, 1, bias=False)).eval()
    x = torch.randn(1, 3, 10, 12)
    macs = get_model_complexity_info(model, inputs=(x, ), show_table=False,
                                     show_arch=False)['flops']
    assert module_costs(model, x, mode=None)[0].flops == 2 * macs


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
    assert fla['flops'] == fla['matmul_flops'] + conv3x3_flops(1, c, c, fh, fw)
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
