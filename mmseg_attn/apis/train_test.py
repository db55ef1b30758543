# Copyright (c) mmseg_attn contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` share: mmseg's launch options
and the loading of the run's config (options merged, work_dir chosen)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

__all__ = ['add_config_args', 'add_local_rank_arg', 'load_runner_config']


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """Add mmseg's ``--cfg-options`` and ``--launcher`` options."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')


def add_local_rank_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--local_rank`` / ``--local-rank``, which ``torch.distributed.launch`` passes."""
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_runner_config(args: argparse.Namespace) -> Config:
    """The config of a run, as mmseg's tools prepare it.

    ``LOCAL_RANK`` is set from ``--local_rank`` when the launcher did not set
    it; the options are merged; ``work_dir`` is ``--work-dir``, else the
    config's, else ``./work_dirs/<config name>``.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
