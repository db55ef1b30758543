# Copyright (c) mmseg_attn contributors. All rights reserved.
"""CPU latency of the deployment paths: PyTorch eager, PyTorch fast path, ONNX Runtime.

Default mode: mmseg_attn's BiSeNet-R18 against mmseg's own ``BiSeNetV1``
R-18 in PyTorch eager, at ``1 x 3 x 512 x 1024``, in one run:

- ``mmseg BiSeNetV1 (eager)``: mmseg's model, BN, ``init_weights()`` then
  random BN statistics (so that folding BN is not a no-op);
- ``ours (eager)``: the mmseg-variant config
  (``configs/bisenet/bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py``)
  with mmseg's weights converted by
  :func:`mmseg_attn.models.utils.bisenetv1_converter` (the same logits);
- ``ours (fast path)``: the same model after
  ``optimize_for_inference(fuse_conv_bn=True, channels_last=True)``;
- ``ours (ONNX Runtime)``: the same exported by
  :func:`mmseg_attn.deployment.export_onnx` and run in ONNX Runtime with all
  graph optimisations and as many threads as PyTorch;
- ``ours (ONNX Runtime INT8)``: that export quantized by
  :func:`mmseg_attn.deployment.quantize_with_inputs` (QDQ, per-channel
  int8 weights, uint8 activations; calibrated on random images, which sets
  the ranges, not the speed);
- ``ours (fast path, bf16)``: the fast path under bfloat16 autocast
  (``optimize_for_inference(precision='bf16')``; with ``--compile`` also
  ``torch.compile``'d, whose first call compiles for minutes on 2 cores);
- ``ours, paper variant (eager)``: the paper's BiSeNet
  (``configs/bisenet/bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py``;
  another model, so its logits are not compared).

Every variant computes ``encode_decode`` (backbone, neck, head and the resize
of the logits to the input size) without gradients. The variants are timed
interleaved, in a rotating order (:func:`mmseg_attn.analysis.compare`);
the table gives medians, the ratio of medians to mmseg's eager model, the
median of the per-round ratios, the relative difference of the logits to
mmseg's (``max |a - b| / max |b|``), the parameters of the inference model,
and the FLOP rate of each path against the machine's matrix-product peak
(:func:`mmseg_attn.analysis.gemm_peak_gflops`, same threads): the model's
FLOPs over that peak is the lowest latency any float32 path can reach here,
printed as a ratio under the table, with the ratios of the low-precision
paths (INT8 ONNX Runtime to fp32 ONNX Runtime, the fastest of them to mmseg's
eager model) and the CPU features that decide them (VNNI or AMX for int8;
AMX or AVX512-BF16 for bfloat16: without them bfloat16 is emulated).

``--configs CFG ...``: the same three paths (eager, fast path, ONNX Runtime)
for each config (random weights with random BN statistics), one table row per
config, ratios to its eager latency.

Examples::

    python tools/deployment/benchmark_deploy.py --repeat 10
    python tools/deployment/benchmark_deploy.py --configs configs/flanet/*.py --shape 256 512
"""
import argparse
import copy
import os.path as osp
import tempfile
from typing import Callable, Dict, Tuple

import mmseg
import torch

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.analysis import (
    FLOPS_CONVENTION,
    compare,
    count_flops,
    gemm_peak_gflops,
    markdown_table,
)
from mmseg_attn.apis import build_segmentor
from mmseg_attn.deployment import (
    OrtSegmentor,
    export_onnx,
    optimize_for_inference,
    quantize_with_inputs,
)
from mmseg_attn.models.utils import bisenetv1_converter
from mmseg_attn.testing import randomize_norms
from mmseg_attn.utils.cpu import describe_cpu, native_bf16

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MMSEG_CONFIG = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'bisenetv1',
                        'bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
OURS_MMSEG = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
OURS_PAPER = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')


def build(config: str, seed: int = 0) -> torch.nn.Module:
    """A segmentor with initialised weights and random BN statistics (else
    folding BN is a no-op), in eval mode."""
    torch.manual_seed(seed)
    model = build_segmentor(config)
    model.init_weights()
    randomize_norms(model, torch.Generator().manual_seed(seed))
    return model.eval()


def example(shape: Tuple[int, int]):
    h, w = shape
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    return x, [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w))]


def eager(model: torch.nn.Module, x, metas) -> Callable[[], torch.Tensor]:
    def run():
        with torch.no_grad():
            return model.encode_decode(x, metas)
    return run


def paths(model: torch.nn.Module, shape, tmpdir: str, threads: int, name: str,
          low_precision: bool = False, compile: bool = False) -> Dict[str, Callable[[], object]]:
    """``{label: fn}`` for eager, fast path and ONNX Runtime of one model; with
    ``low_precision`` also INT8 ONNX Runtime and the bf16 fast path."""
    x, metas = example(shape)
    fast = optimize_for_inference(copy.deepcopy(model), fuse_conv_bn=True, channels_last=True)
    onnx_file = osp.join(tmpdir, f'{name}.onnx')
    export_onnx(model, onnx_file, shape)
    ort = OrtSegmentor(onnx_file, threads)
    fns = {'eager': eager(model, x, metas), 'fast path': eager(fast, x, metas),
           'ONNX Runtime': lambda: ort(x)}
    if low_precision:
        int8_file = osp.join(tmpdir, f'{name}_int8.onnx')
        generator = torch.Generator().manual_seed(2)
        calibration = [torch.randn(1, 3, *shape, generator=generator).numpy()
                       for _ in range(4)]
        quantize_with_inputs(onnx_file, int8_file, calibration,
                             record=dict(calibration='4 random images (timing only)'))
        int8 = OrtSegmentor(int8_file, threads)
        fns['ONNX Runtime INT8'] = lambda: int8(x)
        bf16 = optimize_for_inference(copy.deepcopy(model), fuse_conv_bn=True,
                                      channels_last=True, precision='bf16',
                                      compile=dict(backend='inductor') if compile else False)
        fns['fast path, bf16' + (' + compile' if compile else '')] = eager(bf16, x, metas)
    return fns


def params_m(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def bisenet_comparison(args, tmpdir):
    threads = torch.get_num_threads()
    theirs = build(MMSEG_CONFIG)
    ours = build_segmentor(OURS_MMSEG)
    ours.load_state_dict(bisenetv1_converter(theirs.state_dict()), strict=True)
    ours.eval()
    paper = build(OURS_PAPER)
    shape = tuple(args.shape)
    x, metas = example(shape)
    fns = {'mmseg BiSeNetV1 (eager)': eager(theirs, x, metas)}
    fns.update({f'ours ({k})': v
                for k, v in paths(ours, shape, tmpdir, threads, 'bisenet_mmseg_r18', True,
                                  args.compile).items()})
    fns['ours, paper variant (eager)'] = eager(paper, x, metas)
    same_model = [name for name in fns if 'paper' not in name]
    results = compare({n: fns[n] for n in same_model}, 'mmseg BiSeNetV1 (eager)', args.repeat,
                      args.warmup, check_outputs=True)
    # the paper variant is another model: timed interleaved with mmseg's, not compared
    paper_row = compare({'mmseg BiSeNetV1 (eager)': fns['mmseg BiSeNetV1 (eager)'],
                         'ours, paper variant (eager)': fns['ours, paper variant (eager)']},
                        repeats=args.repeat, warmup=args.warmup)
    results['ours, paper variant (eager)'] = paper_row['ours, paper variant (eager)']
    gflops = {name: sum(count_flops(model, x)[''].values()) / 1e9
              for name, model in (('mmseg', theirs), ('paper', paper))}
    peak = gemm_peak_gflops()
    base = results['mmseg BiSeNetV1 (eager)']
    print(f'BiSeNet-R18 vs mmseg BiSeNetV1-R18: input 1x3x{shape[0]}x{shape[1]}, {threads} '
          f'threads, {args.repeat} rounds (+{args.warmup} warm-up), torch {torch.__version__}, '
          f'onnxruntime {_ort_version()}; {gflops["mmseg"]:.2f} GFLOPs ({FLOPS_CONVENTION})')
    rows = []
    for name, res in results.items():
        model_gflops = gflops['paper' if 'paper' in name else 'mmseg']
        rate = model_gflops / res.median_ms * 1e3
        params = params_m(paper if 'paper' in name else theirs)
        diff = '-' if res.rel_diff is None else f'{res.rel_diff:.1e}'
        rows.append([name, f'{res.median_ms:.1f}', f'{res.min_ms:.1f}',
                     f'{res.ratio:.3f}', f'{res.paired:.3f}', diff,
                     f'{rate:.1f} ({rate / peak:.0%})', f'{params:.2f}'])
    print(markdown_table(
        ['model', 'median (ms)', 'min (ms)', 'ratio of medians', 'median of paired ratios',
         'rel. diff of logits to mmseg', 'GFLOP/s (% of GEMM peak)', 'params (M)'], rows))
    floor = gflops['mmseg'] / peak * 1e3
    print(f'GEMM peak here ({threads} threads, float32): {peak:.1f} GFLOP/s, so no float32 path '
          f'runs these {gflops["mmseg"]:.2f} GFLOPs in less than {floor:.1f} ms = '
          f'{floor / base.median_ms:.3f}x of mmseg\'s eager median')
    low = {name: res for name, res in results.items() if 'INT8' in name or 'bf16' in name}
    int8 = results['ours (ONNX Runtime INT8)'].median_ms / \
        results['ours (ONNX Runtime)'].median_ms
    fastest = min(low, key=lambda name: low[name].median_ms)
    print(f'INT8 ONNX Runtime / fp32 ONNX Runtime: {int8:.3f}x (target <= 0.55x); the fastest '
          f'low-precision path, {fastest}: {low[fastest].ratio:.3f}x of mmseg\'s eager fp32 '
          'model (target <= 0.15x)')
    print(describe_cpu() + ('' if native_bf16() else ' (bf16 is emulated here: slower than '
                                                     'fp32)'))


def family_table(args, tmpdir):
    threads = torch.get_num_threads()
    shape = tuple(args.shape)
    print(f'input 1x3x{shape[0]}x{shape[1]}, {threads} threads, {args.repeat} rounds '
          f'(+{args.warmup} warm-up), torch {torch.__version__}, onnxruntime {_ort_version()}')
    header = ['config', 'eager median (ms)', 'fast path / eager', 'ONNX Runtime / eager',
              'rel. diff fast path', 'rel. diff ONNX Runtime']
    rows = []
    for i, config in enumerate(args.configs):
        name = osp.splitext(osp.basename(config))[0]
        try:
            res = compare(paths(build(config), shape, tmpdir, threads, f'model{i}'), 'eager',
                          args.repeat, args.warmup, check_outputs=True)
        except Exception as exc:  # report and go on with the next config
            rows.append([name, f'failed: {type(exc).__name__}: {str(exc).splitlines()[0]}',
                         '', '', '', ''])
            continue
        rows.append([name, f'{res["eager"].median_ms:.1f}', f'{res["fast path"].ratio:.3f}',
                     f'{res["ONNX Runtime"].ratio:.3f}', f'{res["fast path"].rel_diff:.1e}',
                     f'{res["ONNX Runtime"].rel_diff:.1e}'])
    print(markdown_table(header, rows))


def _ort_version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def main(argv=None):
    parser = argparse.ArgumentParser(description='CPU latency of eager, fast path and ONNX '
                                     'Runtime inference')
    parser.add_argument('--configs', nargs='+', help='time these configs instead of the '
                        'BiSeNet comparison')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 1024], help='H W')
    parser.add_argument('--repeat', type=int, default=10, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads')
    parser.add_argument('--compile', action='store_true',
                        help='also torch.compile the bf16 fast path (minutes on 2 cores)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmpdir:
        if args.configs:
            family_table(args, tmpdir)
        else:
            bisenet_comparison(args, tmpdir)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
