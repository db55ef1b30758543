"""Inference speed (FPS, latency) and peak memory of a segmentor, on CPU or GPU.

The measurement of mmseg's ``tools/analysis_tools/benchmark.py`` (batch 1,
``model(inputs, data_samples, mode='predict')`` including the config's
``test_cfg`` whole/slide inference and the resize to the original shape,
5 warm-up batches, then 200 timed ones, ``--repeat-times`` runs, FPS average
and variance), with a few additions: the checkpoint is optional (random
weights time the same), ``--shape H W`` times a random image instead of the
config's test dataloader (no dataset needed), ``--device`` picks CPU or GPU,
and latency statistics and peak memory are reported (GPU: max allocated
during the timed batches, as mmengine logs it; CPU: peak resident memory of
the process during the first, untimed forward; both also as the growth over
the memory held before inference).

    python tools/benchmark.py configs/bisenet/<cfg>.py --shape 1024 2048 --device cuda
    python tools/benchmark.py configs/bisenet/<cfg>.py work_dirs/.../iter_160000.pth
"""
import argparse
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.fileio import dump
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.apis import build_segmentor, random_batch, time_inference


def parse_args():
    parser = argparse.ArgumentParser(description='MMSeg benchmark a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (default: random init)')
    parser.add_argument(
        '--log-interval', type=int, default=50, help='interval of logging')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the results will be dumped '
              'into the directory as json'))
    parser.add_argument('--repeat-times', type=int, default=1)
    parser.add_argument(
        '--shape', type=int, nargs='+',
        help='time a random image of H [W] instead of the test dataloader')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device, e.g. cpu, cuda or cuda:1 (default: cuda when available)')
    parser.add_argument('--num-iters', type=int, default=200, help='timed batches per run')
    parser.add_argument('--num-warmup', type=int, default=5, help='untimed batches first')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    return parser.parse_args()


def random_batches(shape, device):
    inputs, data_samples = random_batch(shape, 1, device=device)
    while True:
        yield inputs, data_samples


def dataloader_batches(cfg, model):
    loader = Runner.build_dataloader(cfg.test_dataloader)
    for data in loader:
        data = model.data_preprocessor(data, False)
        yield data['inputs'], data['data_samples']


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    work_dir = args.work_dir or osp.join('./work_dirs',
                                         osp.splitext(osp.basename(args.config))[0])
    mkdir_or_exist(osp.abspath(work_dir))
    json_file = osp.join(work_dir, f'fps_{timestamp}.json')

    torch.backends.cudnn.benchmark = False
    if 'test_dataloader' in cfg:
        cfg.test_dataloader.batch_size = 1
    elif not args.shape:
        raise ValueError(f'{args.config} has no test_dataloader: give --shape H W')
    model = build_segmentor(cfg, args.checkpoint, args.device)
    if args.shape:
        if len(args.shape) not in (1, 2):
            raise ValueError(f'--shape takes H [W], got {args.shape}')
        shape = (args.shape[0], args.shape[-1])
        source = f'random image {shape}'
    else:
        source = 'test dataloader'

    result = dict(config=args.config, checkpoint=args.checkpoint, device=args.device,
                  input=source, unit='img / s')
    fps_list, latencies, memories, extra = [], [], [], []
    for run in range(args.repeat_times):
        print(f'Run {run + 1}:')
        batches = random_batches(shape, args.device) if args.shape \
            else dataloader_batches(cfg, model)
        stats = time_inference(model, batches, args.num_iters, args.num_warmup,
                               args.log_interval)
        latency = stats['latency_ms']
        print(f'Overall fps: {stats["fps"]:.2f} img / s ({stats["batches"]} images; latency '
              f'mean {latency["mean"]:.2f} ms, median {latency["median"]:.2f} ms, '
              f'std {latency["std"]:.2f} ms; peak memory {stats["peak_memory_mb"]:.1f} MiB, '
              f'{stats["peak_extra_memory_mb"]:.1f} MiB above the memory before inference)\n')
        result[f'overall_fps_{run + 1}'] = round(stats['fps'], 2)
        result[f'run_{run + 1}'] = stats
        fps_list.append(stats['fps'])
        latencies.append(latency['mean'])
        memories.append(stats['peak_memory_mb'])
        extra.append(stats['peak_extra_memory_mb'])
    result['average_fps'] = round(float(np.mean(fps_list)), 2)
    result['fps_variance'] = round(float(np.var(fps_list)), 4)
    result['average_latency_ms'] = round(float(np.mean(latencies)), 3)
    result['peak_memory_mb'] = round(float(max(memories)), 1)
    result['peak_extra_memory_mb'] = round(float(max(extra)), 1)
    print(f'Average fps of {args.repeat_times} evaluations: {result["average_fps"]}')
    print(f'The variance of {args.repeat_times} evaluations: {result["fps_variance"]}')
    print(f'Average latency: {result["average_latency_ms"]} ms / img on {args.device} '
          f'({source}); peak memory: {result["peak_memory_mb"]} MiB '
          f'({result["peak_extra_memory_mb"]} MiB above the memory before inference)')
    dump(result, json_file, indent=4)
    print(f'Results written to {json_file}')


if __name__ == '__main__':
    main()
