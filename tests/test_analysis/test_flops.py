"""mmseg_attn.analysis.flops: matmuls are counted, 1 multiply-add = 2 FLOPs."""
import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info

from mmseg_attn.analysis import FLOPS_CONVENTION, format_cost_table, format_count, module_costs
from mmseg_attn.models.layers import FullyAttentionalBlock
from mmseg_attn.testing import conv_flops, fla_matmul_flops


def test_fla_block_matmuls_are_counted():
    n, c, h, w = 2, 16, 6, 10
    block = FullyAttentionalBlock(c, chunk_size=4).eval()
    rows = module_costs(block, torch.randn(n, c, h, w), mode=None)
    total = rows[0]
    assert total.matmul_flops == fla_matmul_flops(n, c, h, w)
    assert total.conv_flops == conv_flops(n, c, c, h, w, 3)  # the output conv, no bias
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


def test_cost_table_names_the_unit():
    model = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False)).eval()
    rows = module_costs(model, torch.randn(1, 3, 4, 5), mode=None)
    assert rows[0].flops == conv_flops(1, 3, 8, 4, 5) == 960
    table = format_cost_table(rows)
    assert table.splitlines()[0].startswith('| module')
    assert '| 960 ' in table and FLOPS_CONVENTION in table.splitlines()[-1]
    assert FLOPS_CONVENTION == '1 multiply-add = 2 FLOPs'
    assert format_count(1234567) == '1.235M' and format_count(12) == '12'
