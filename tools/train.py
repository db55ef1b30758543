# Copyright (c) OpenMMLab. All rights reserved.
# mmseg's tools/train.py (same arguments and behaviour) with mmseg_attn
# imported, plus distributed training on machines without a GPU: see
# mmseg_attn/apis/cpu_dist.py. With CUDA available the run is mmseg's own.
import argparse
import logging

from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.apis import setup_cpu_distributed
from mmseg_attn.apis.train_test import add_config_args, add_local_rank_arg, load_runner_config


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    add_config_args(parser)
    add_local_rank_arg(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    # config with the options merged; work_dir: CLI > config > config name
    cfg = load_runner_config(args)

    # enable automatic-mixed-precision training
    if args.amp is True:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    # resume training
    cfg.resume = args.resume

    # distributed without CUDA: gloo process group, SyncBN -> BN, DDP on CPU
    setup_cpu_distributed(cfg)

    # build the runner from config
    if 'runner_type' not in cfg:
        # build the default runner
        runner = Runner.from_cfg(cfg)
    else:
        # build customized runner from the registry
        # if 'runner_type' is set in the cfg
        runner = RUNNERS.build(cfg)

    # start training
    runner.train()


if __name__ == '__main__':
    main()
