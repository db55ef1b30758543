"""The first run: toy Cityscapes -> train a small BiSeNet on the CPU -> mIoU + picture.

Writes the toy dataset (if it is not there yet), trains the demo config with
mmengine's Runner, evaluates it with mmseg's IoUMetric, prints the mIoU and
writes ``<work-dir>/demo_predictions.png`` with image / ground truth /
prediction side by side for a few validation images.

    python tools/misc/demo.py                  # about 5 minutes on 2 CPU cores
    python tools/misc/demo.py --iters 100      # a quicker look
"""
import argparse
import json
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.datasets import make_toy_dataset
from mmseg_attn.visualization.draw import colorize, save_png

# beside tools/ in the checkout and in the installed package's .mim folder alike
DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                          'configs', 'demo', 'bisenet_r18_1xb4-400_toy-cityscapes-128x128.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/toy_cityscapes')
    parser.add_argument('--num-train', type=int, default=80)
    parser.add_argument('--num-val', type=int, default=20)
    parser.add_argument('--iters', type=int, help='override the number of training iterations')
    parser.add_argument('--num-pictures', type=int, default=3)
    return parser.parse_args()


def ensure_toy_cityscapes(data_root: str, num_train: int, num_val: int) -> None:
    meta = osp.join(data_root, 'toy_dataset.json')
    if osp.exists(meta):
        with open(meta) as f:
            info = json.load(f)
        if (info['num_train'], info['num_val']) == (num_train, num_val):
            return
    print(f'writing the toy Cityscapes dataset to {data_root} ...')
    make_toy_dataset('cityscapes', data_root, num_train=num_train, num_val=num_val)


def draw_predictions(runner: Runner, path: str, num: int) -> None:
    """Write image / ground truth / prediction rows for ``num`` validation images."""
    model = runner.model
    model.eval()
    palette = runner.test_dataloader.dataset.metainfo['palette']
    rows = []
    with torch.no_grad():
        for i, data in enumerate(runner.test_dataloader):
            if i == num:
                break
            sample = model.test_step(data)[0]
            image = data['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
            gt = sample.gt_sem_seg.data[0].numpy().astype(np.uint8)
            pred = sample.pred_sem_seg.data[0].numpy().astype(np.uint8)
            gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
            rows.append(np.concatenate(
                [image, gap, colorize(gt, palette), gap, colorize(pred, palette)], axis=1))
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=0)
    save_png(path, picture)


def main():
    args = parse_args()
    start = time.time()
    ensure_toy_cityscapes(args.data_root, args.num_train, args.num_val)
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
    if args.iters:
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = args.iters
        cfg.default_hooks.checkpoint.interval = args.iters
        for scheduler in cfg.param_scheduler:
            scheduler.end = min(scheduler.end, args.iters)
            scheduler.begin = min(scheduler.begin, args.iters - 1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    picture = osp.join(args.work_dir, 'demo_predictions.png')
    draw_predictions(runner, picture, args.num_pictures)
    minutes = (time.time() - start) / 60
    print(f'\nDemo finished in {minutes:.1f} min: mIoU {metrics["mIoU"]:.2f} on the toy '
          f'Cityscapes validation set; predictions drawn in {picture} '
          '(image | ground truth | prediction).')


if __name__ == '__main__':
    main()
