# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Parameters and FLOPs of a segmentor, per module.

Counts every convolution and matrix product (``nn.Linear``, ``torch.bmm``,
``torch.matmul``, ``torch.einsum``, attention) with torch's FlopCounterMode,
so the Fully Attentional block of FLANet, which is all matmuls, is counted.
One multiply-add is 2 FLOPs; MACs = FLOPs / 2 is what mmseg's
``tools/analysis_tools/get_flops.py`` prints as "Flops". By default nothing
is computed: the model runs on PyTorch's ``meta`` device, so even
1024x2048 inputs are counted in seconds.

    python tools/analysis_tools/get_flops.py \\
        configs/flanet/flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py --shape 512 1024 --depth 2

``--attention-table``: the parameter / FLOP table of ``configs/attention``
(each config against the config it inherits) written into
``configs/attention/README.md``, and its ``metafile.yaml``
(:mod:`mmseg_attn.analysis.cost_table`)::

    python tools/analysis_tools/get_flops.py --attention-table              # rewrite both
    python tools/analysis_tools/get_flops.py --attention-table --print-only
    python tools/analysis_tools/get_flops.py --attention-table configs/attention/fcn_*.py \\
        --print-only
"""
import argparse
import glob
import json
import os.path as osp

import torch
from mmengine.config import Config

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn import analysis
from mmseg_attn.analysis import cost_table
from mmseg_attn.apis import build_segmentor, random_batch
from mmseg_attn.security import atomic_write_text
from mmseg_attn.utils.config import add_cfg_options, load_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ATTENTION_DIR = osp.join(REPO_ROOT, 'configs', 'attention')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Get the FLOPs of a segmentor, per module')
    parser.add_argument('config', nargs='*',
                        help='config file path (with --attention-table: the configs of the '
                        'table, default configs/attention/*.py)')
    parser.add_argument('--attention-table', action='store_true',
                        help='write the cost table of configs/attention (README and metafile)')
    parser.add_argument('--print-only', action='store_true',
                        help='--attention-table: print the table; write neither README nor '
                        'metafile')
    parser.add_argument('--counter', choices=('torch', 'mmengine'), default='torch',
                        help='--attention-table: FLOP counter (see mmseg_attn.analysis.'
                        'cost_table)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input size H [W] (one number: square); defaults to the crop size of the '
        "config's data preprocessor, else 512 512")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward')
    parser.add_argument(
        '--depth', type=int, default=2, help='deepest module level of the table (0: totals)')
    parser.add_argument(
        '--device',
        default='meta',
        help="device to run on: 'meta' (count only, default), 'cpu' or 'cuda'")
    parser.add_argument('--json', help='also write the rows and totals to this JSON file')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if not args.attention_table and len(args.config) != 1:
        parser.error(f'give one config (got {len(args.config)}), or --attention-table')
    return args


def input_shape(cfg: Config, shape):
    if shape:
        if len(shape) not in (1, 2):
            raise ValueError(f'--shape takes H [W], got {shape}')
        return (shape[0], shape[-1])
    size = cfg.model.get('data_preprocessor', {}).get('size')
    return tuple(size) if size else (512, 512)


def attention_table(args) -> None:
    """Measure the attention configs against their bases; write README and metafile."""
    paths = args.config or sorted(glob.glob(osp.join(ATTENTION_DIR, '*.py')))
    records = cost_table.measure_all([osp.abspath(p) for p in paths], build_segmentor,
                                     tuple(args.shape) if args.shape else None, args.counter,
                                     REPO_ROOT)
    text = cost_table.table(records)
    print(text)
    if args.print_only:
        return
    readme = osp.join(ATTENTION_DIR, 'README.md')
    with open(readme) as f:
        content = cost_table.replace_section(f.read(), text)
    atomic_write_text(content, readme)
    if not args.config and not args.shape:
        atomic_write_text(cost_table.metafile(records, REPO_ROOT),
                          osp.join(ATTENTION_DIR, 'metafile.yaml'))


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.attention_table:
        return attention_table(args)
    cfg = load_config(args.config[0], args.cfg_options)
    shape = input_shape(cfg, args.shape)
    model = build_segmentor(cfg, device=args.device)
    inputs, _ = random_batch(shape, args.batch_size, device=args.device)
    rows = analysis.module_costs(model, inputs, max_depth=args.depth)
    total = rows[0]
    print(analysis.format_cost_table(rows))
    print(f'\nInput shape: {(args.batch_size, 3, *shape)} (backbone, neck and decode head; '
          'auxiliary heads removed)')
    print(f'FLOPs: {analysis.format_count(total.flops)} ({analysis.FLOPS_CONVENTION}; '
          f'MACs: {analysis.format_count(total.flops / 2)})')
    print(f'  convolutions: {analysis.format_count(total.conv_flops)}, matrix products: '
          f'{analysis.format_count(total.matmul_flops)}')
    print(f'Params: {analysis.format_count(total.params)}')
    print('Not counted: element-wise ops, norms, pooling and interpolation.')
    if args.json:
        report = dict(config=args.config[0], input_shape=[args.batch_size, 3, *shape],
                      flops=total.flops, macs=total.flops / 2, params=total.params,
                      rows=analysis.costs_as_dicts(rows))
        atomic_write_text(json.dumps(report, indent=2), args.json)


if __name__ == '__main__':
    main()
