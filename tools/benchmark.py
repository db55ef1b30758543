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

    python tools/benchmark.py configs/bisenet/<cfg>.py --shape 1024 2048 --device cuda
    python tools/benchmark.py configs/bisenet/<cfg>.py work_dirs/.../iter_160000.pth
    python tools/benchmark.py CONFIG --shape 512 1024 --fuse-conv-bn --channels-last
    python tools/benchmark.py CONFIG --shape 512 1024 --backend onnxruntime
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
from mmseg_attn.analysis import time_inference
from mmseg_attn.apis import build_segmentor, random_batch


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
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    args = parser.parse_args()
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() and args.backend == 'pytorch' \
            else 'cpu'
    return args


class OnnxRuntimeSegmentor(torch.nn.Module):
    """An exported model as ``model(inputs, data_samples, mode='predict')`` for timing.

    Each call is one ONNX Runtime run of the exported graph on ``inputs``
    (normalised images to logits or labels at the input size).
    """

    def __init__(self, onnx_file, num_threads=None):
        super().__init__()
        from mmseg_attn.deployment import create_session
        self.session = create_session(onnx_file, num_threads)
        self.input_name = self.session.get_inputs()[0].name
        # time_inference reads the device from the parameters
        self.anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, inputs, data_samples=None, mode='predict'):
        (out, ) = self.session.run(None, {self.input_name: inputs.cpu().numpy()})
        return out


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
            from mmseg_attn.deployment import export_onnx
            onnx_file = osp.join(work_dir, 'model.onnx')
            model = build_segmentor(cfg, args.checkpoint, 'cpu')
            export_onnx(model, onnx_file, shape or (512, 512), dynamic=shape is None)
            print(f'Exported to {onnx_file}')
        return OnnxRuntimeSegmentor(onnx_file, args.threads), 'onnxruntime'
    model = build_segmentor(cfg, args.checkpoint, args.device)
    fast = check_backend_args(args)
    if fast:
        from mmseg_attn.deployment import optimize_for_inference
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


if __name__ == '__main__':
    main()
