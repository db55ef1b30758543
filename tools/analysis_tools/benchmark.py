"""Benchmarks: a segmentor's speed (mmseg's), the blocks and the heads against references.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [options]  # a segmentor
    python tools/analysis_tools/benchmark.py blocks [options]   # every block vs its reference
    python tools/analysis_tools/benchmark.py heads [options]    # FLAHead vs mmseg's heads

``CONFIG``: inference speed (FPS, latency) and peak memory of a segmentor, on
CPU or GPU. The measurement of mmseg's ``tools/analysis_tools/benchmark.py`` (batch 1,
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

Backends (see docs/deployment.md):

- ``--backend pytorch`` (default), optionally with the inference fast path of
  :func:`mmseg_attn.deployment.optimize_for_inference`: ``--fuse-conv-bn``
  (BN folded into the convs), ``--channels-last``, ``--compile``
  (``torch.compile`` of the backbone/neck and decode head;
  ``--compile-backend`` picks its backend);
- ``--backend onnxruntime``: the model is exported with
  ``tools/deployment/pytorch2onnx.py``'s exporter (fixed ``--shape``, or
  dynamic height and width for the test dataloader) into the work dir, or
  ``--onnx-file`` is timed, and each batch is one ONNX Runtime run of the
  exported graph (normalised input to logits resized to the input size).

Every run prints the median latency, the FPS and the peak memory.

    python tools/analysis_tools/benchmark.py configs/bisenet/<cfg>.py --shape 1024 2048 \\
        --device cuda
    python tools/analysis_tools/benchmark.py configs/bisenet/<cfg>.py work_dirs/.../iter_160000.pth
    python tools/analysis_tools/benchmark.py CONFIG --shape 512 1024 --fuse-conv-bn --channels-last
    python tools/analysis_tools/benchmark.py CONFIG --shape 512 1024 --backend onnxruntime

``blocks``: every attention block against its reference implementation (the
largest output difference, inference and training latency interleaved, peak
memory in fresh processes; :mod:`mmseg_attn.analysis.block_benchmark`)::

    python tools/analysis_tools/benchmark.py blocks --repeats 5
    python tools/analysis_tools/benchmark.py blocks --blocks SqueezeExcitation CBAM \\
        --size 2 256 64 64
    python tools/analysis_tools/benchmark.py blocks --blocks FullyAttentionalBlock \\
        --fla-size 2 512 64 128 --fla-impls auto chunked

``heads``: FLAHead against mmseg's attention heads on the same features
(parameters, FLOPs, latency, peak memory; ratios to FLAHead;
:mod:`mmseg_attn.analysis.head_benchmark`)::

    python tools/analysis_tools/benchmark.py heads --repeat 3
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.fileio import dump
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.analysis import time_inference
from mmseg_attn.analysis.block_benchmark import (
    FLA_SIZES,
    block_jobs,
    block_table,
    measure_block,
)
from mmseg_attn.analysis.head_benchmark import (
    FLOPS_CONVENTION,
    head_cfgs,
    head_table,
    measure_heads,
)
from mmseg_attn.apis import build_segmentor, random_batch
from mmseg_attn.deployment import OrtSegmentor, export_onnx, optimize_for_inference
from mmseg_attn.testing import BLOCK_PAIRS
from mmseg_attn.utils.config import add_cfg_options, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMSeg benchmark a model (or: benchmark.py blocks|heads -h)')
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
        help='device, e.g. cpu, cuda or cuda:1 (default: cuda when available for PyTorch, '
        'else cpu)')
    parser.add_argument('--num-iters', type=int, default=200, help='timed batches per run')
    parser.add_argument('--num-warmup', type=int, default=5, help='untimed batches first')
    parser.add_argument('--backend', default='pytorch', choices=('pytorch', 'onnxruntime'),
                        help='run the model in PyTorch or export it and run it in ONNX Runtime')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='PyTorch: fold BatchNorm into the convolutions')
    parser.add_argument('--channels-last', action='store_true',
                        help='PyTorch: channels_last memory format')
    parser.add_argument('--compile', action='store_true',
                        help='PyTorch: torch.compile the backbone/neck and the decode head')
    parser.add_argument('--compile-backend', default='inductor',
                        help='torch.compile backend (default: inductor)')
    parser.add_argument('--onnx-file',
                        help='onnxruntime: time this exported model instead of exporting')
    parser.add_argument('--threads', type=int,
                        help='CPU threads of PyTorch and ONNX Runtime (default: their own)')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() and args.backend == 'pytorch' \
            else 'cpu'
    return args


def check_backend_args(args):
    fast = [f'--{name.replace("_", "-")}' for name in ('fuse_conv_bn', 'channels_last',
                                                        'compile') if getattr(args, name)]
    if args.backend == 'onnxruntime':
        if fast:
            raise ValueError(f'{", ".join(fast)} apply to --backend pytorch, not onnxruntime')
        if args.device != 'cpu':
            raise ValueError(f'--backend onnxruntime runs on the CPU here, got --device '
                             f'{args.device}')
    elif args.onnx_file:
        raise ValueError('--onnx-file needs --backend onnxruntime')
    return fast


def prepare_model(args, cfg, shape, work_dir):
    """The model to time and a description of the backend."""
    if args.backend == 'onnxruntime':
        if args.onnx_file:
            onnx_file = args.onnx_file
        else:
            onnx_file = osp.join(work_dir, 'model.onnx')
            model = build_segmentor(cfg, args.checkpoint, 'cpu')
            export_onnx(model, onnx_file, shape or (512, 512), dynamic=shape is None)
            print(f'Exported to {onnx_file}')
        return OrtSegmentor(onnx_file, args.threads), 'onnxruntime'
    model = build_segmentor(cfg, args.checkpoint, args.device)
    fast = check_backend_args(args)
    if fast:
        compile_opts = dict(backend=args.compile_backend) if args.compile else False
        optimize_for_inference(model, fuse_conv_bn=args.fuse_conv_bn,
                               channels_last=args.channels_last, compile=compile_opts)
    return model, ' '.join(['pytorch'] + fast)


def random_batches(shape, device):
    inputs, data_samples = random_batch(shape, 1, device=device)
    while True:
        yield inputs, data_samples


def dataloader_batches(cfg, preprocessor):
    loader = Runner.build_dataloader(cfg.test_dataloader)
    for data in loader:
        data = preprocessor(data, False)
        yield data['inputs'], data['data_samples']


def model_main(argv=None):
    """The mmseg-like benchmark of one segmentor."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)

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
    check_backend_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = None
    if args.shape:
        if len(args.shape) not in (1, 2):
            raise ValueError(f'--shape takes H [W], got {args.shape}')
        shape = (args.shape[0], args.shape[-1])
        source = f'random image {shape}'
    else:
        source = 'test dataloader'
    model, backend = prepare_model(args, cfg, shape, work_dir)
    preprocessor = None
    if not args.shape:
        preprocessor = model.data_preprocessor if args.backend == 'pytorch' else \
            build_segmentor(cfg, None, 'cpu').data_preprocessor

    result = dict(config=args.config, checkpoint=args.checkpoint, device=args.device,
                  backend=backend, input=source, unit='img / s')
    fps_list, latencies, medians, memories, extra = [], [], [], [], []
    for run in range(args.repeat_times):
        print(f'Run {run + 1}:')
        batches = random_batches(shape, args.device) if args.shape \
            else dataloader_batches(cfg, preprocessor)
        stats = time_inference(model, batches, args.num_iters, args.num_warmup,
                               args.log_interval)
        latency = stats['latency_ms']
        print(f'Overall fps: {stats["fps"]:.2f} img / s ({backend}, {stats["batches"]} images; '
              f'latency mean {latency["mean"]:.2f} ms, median {latency["median"]:.2f} ms, '
              f'std {latency["std"]:.2f} ms; peak memory {stats["peak_memory_mb"]:.1f} MiB, '
              f'{stats["peak_extra_memory_mb"]:.1f} MiB above the memory before inference)\n')
        result[f'overall_fps_{run + 1}'] = round(stats['fps'], 2)
        result[f'run_{run + 1}'] = stats
        fps_list.append(stats['fps'])
        latencies.append(latency['mean'])
        medians.append(latency['median'])
        memories.append(stats['peak_memory_mb'])
        extra.append(stats['peak_extra_memory_mb'])
    result['average_fps'] = round(float(np.mean(fps_list)), 2)
    result['fps_variance'] = round(float(np.var(fps_list)), 4)
    result['average_latency_ms'] = round(float(np.mean(latencies)), 3)
    result['median_latency_ms'] = round(float(np.median(medians)), 3)
    result['peak_memory_mb'] = round(float(max(memories)), 1)
    result['peak_extra_memory_mb'] = round(float(max(extra)), 1)
    print(f'Average fps of {args.repeat_times} evaluations: {result["average_fps"]}')
    print(f'The variance of {args.repeat_times} evaluations: {result["fps_variance"]}')
    print(f'Median latency: {result["median_latency_ms"]} ms / img, FPS {result["average_fps"]} '
          f'({backend} on {args.device}, {source})')
    print(f'Average latency: {result["average_latency_ms"]} ms / img on {args.device} '
          f'({source}); peak memory: {result["peak_memory_mb"]} MiB '
          f'({result["peak_extra_memory_mb"]} MiB above the memory before inference)')
    dump(result, json_file, indent=4)
    print(f'Results written to {json_file}')


def blocks_main(argv=None):
    """Every attention block against its reference implementation."""
    parser = argparse.ArgumentParser(
        prog='benchmark.py blocks',
        description='Every attention block against its reference implementation (ratios are '
        'ours / reference: below 1 is better)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda, cuda:1')
    parser.add_argument('--repeats', type=int, default=10, help='timed rounds per measurement')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
    parser.add_argument(
        '--blocks', nargs='+', default=list(BLOCK_PAIRS), choices=list(BLOCK_PAIRS),
        metavar='NAME', help=f'blocks to run (default: all of {", ".join(BLOCK_PAIRS)})')
    parser.add_argument(
        '--size', nargs=4, type=int, default=[2, 256, 64, 64], metavar=('N', 'C', 'H', 'W'),
        help='input size of every block (default: 2 256 64 64)')
    parser.add_argument(
        '--fla-size', nargs='+', type=int, default=[n for s in FLA_SIZES for n in s],
        metavar='N C H W',
        help='extra FLA input sizes, four numbers each (default: 2 512 64 128 1 512 97 97); '
        '0 0 0 0 for none')
    parser.add_argument(
        '--fla-impls', nargs='+', default=None, metavar='IMPL',
        help="one FLA row per implementation, e.g. auto chunked (default: the block's default)")
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--timer', choices=('wall', 'cpu'), default='wall',
        help='wall: elapsed time (default); cpu: CPU time of this process, which other '
        'processes on a shared machine do not inflate (use with --threads 1 to read it as '
        'single-thread latency; CPU only)')
    parser.add_argument(
        '--input-grad', action='store_true',
        help='training steps also compute the gradients of the inputs, as for a block inside '
        'a network (default: those of the parameters only)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak memory (one fresh process per cell)')
    args = parser.parse_args(argv)
    if len(args.fla_size) % 4:
        parser.error(f'--fla-size takes N C H W groups of four numbers, got {args.fla_size}')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.timer == 'cpu' and device.type != 'cpu':
        parser.error('--timer cpu measures CPU time and needs --device cpu')
    fla_shapes = [tuple(args.fla_size[i:i + 4]) for i in range(0, len(args.fla_size), 4)]
    fla_shapes = [s for s in fla_shapes if any(s)]
    rows = [measure_block(name, shape, kwargs, device, args.repeats, args.warmup, args.timer,
                          not args.no_memory, args.input_grad)
            for name, shape, kwargs in block_jobs(args.blocks, tuple(args.size), fla_shapes,
                                                  args.fla_impls)]
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'timer={args.timer} repeats={args.repeats} train gradients='
          f'{"parameters and inputs" if args.input_grad else "parameters"} '
          '(medians; time ratio = median of '
          'paired ratios); peak memory = extra peak in a fresh process; ratios are ours / '
          'reference')
    print(block_table(rows))


def heads_main(argv=None):
    """FLAHead against mmseg's attention heads on the same features."""
    parser = argparse.ArgumentParser(
        prog='benchmark.py heads',
        description='Cost of FLAHead against mmseg\'s attention heads on the same features')
    parser.add_argument(
        '--shape', type=int, nargs=3, default=(2048, 64, 128), metavar=('C', 'H', 'W'),
        help='backbone feature shape (default: 1/8 of a 512x1024 image from R-101-D8)')
    parser.add_argument('--channels', type=int, default=512, help='head channels')
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--heads', nargs='+', default=None, metavar='NAME',
                        help='subset of heads to run (FLAHead always runs): '
                        f'{", ".join(head_cfgs(1, 1, 1))}')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak memory (one fresh process per head)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = measure_heads(args.shape, args.channels, args.num_classes, args.heads,
                            args.repeat, args.warmup, not args.no_memory,
                            log=lambda line: print(line, flush=True))
    c, h, w = args.shape
    print(f'\nInput 1 x {c} x {h} x {w}, eval mode, no grad, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, latency median of {args.repeat} interleaved '
          f'rounds after {args.warmup} warm-up (ratio: median of the per-round ratios).\n')
    print(head_table(results, 'FLAHead'))
    print(f'\nFLOPs: torch.utils.flop_counter.FlopCounterMode ({FLOPS_CONVENTION}); '
          'ops counted per head:')
    for name, r in results.items():
        print(f'- {name}: {", ".join(r["ops"])}')
    print('Peak memory: extra peak of one forward pass run first in a fresh process '
          '(mmseg_attn.analysis.peak_memory_in_fresh_process).')


MODES = {'blocks': blocks_main, 'heads': heads_main}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in MODES:
        return MODES[argv[0]](argv[1:])
    return model_main(argv)


if __name__ == '__main__':
    main()
