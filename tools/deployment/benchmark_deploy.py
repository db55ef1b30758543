# Copyright (c) mmseg_attn contributors. All rights reserved.
"""CPU latency of the deployment paths: PyTorch eager, PyTorch fast path, ONNX Runtime.

Default mode: the exported mmseg-variant BiSeNet-R18
(``configs/bisenet/bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py``)
against mmseg's own ``BiSeNetV1`` R-18 in PyTorch eager, at ``1 x 3 x 512 x
1024``, in one run:

- ``mmseg BiSeNetV1 (eager)``: mmseg's model, BN, ``init_weights()`` then
  random BN statistics (so that folding BN is not a no-op);
- ``ours (eager)``: our mmseg-variant config with mmseg's weights converted by
  ``tools/model_converters/bisenetv1_mmseg2attn.py`` (same logits);
- ``ours (fast path)``: the same after
  ``optimize_for_inference(fuse_conv_bn=True, channels_last=True)``;
- ``ours (ONNX Runtime)``: the same exported by
  :func:`mmseg_attn.deployment.export_onnx` and run in ONNX Runtime with all
  graph optimisations and as many threads as PyTorch.

Every variant computes ``encode_decode`` (backbone, neck, head and the resize
of the logits to the input size) without gradients. The variants are timed
interleaved, in a rotating order (:func:`mmseg_attn.analysis.time_interleaved`);
the table gives medians, the ratio of medians to mmseg's eager model, the
median of the per-round ratios, the relative difference of the logits to
mmseg's (``max |a - b| / max |b|``), and the FLOP rate of each path against
the machine's matrix-product peak (:func:`mmseg_attn.analysis.gemm_peak_gflops`,
same threads): the model's FLOPs over that peak is the lowest latency any
float32 path can reach here, printed as a ratio under the table.

``--configs CFG ...``: the same three paths (eager, fast path, ONNX Runtime)
for each config (random weights with random BN statistics), one table row per
config, ratios to its eager latency.

Examples::

    python tools/deployment/benchmark_deploy.py --repeat 10
    python tools/deployment/benchmark_deploy.py --configs configs/flanet/*.py --shape 256 512
"""
import argparse
import copy
import importlib.util
import os.path as osp
import tempfile

import mmseg
import numpy as np
import torch

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.analysis import count_flops, gemm_peak_gflops, time_interleaved
from mmseg_attn.apis import build_segmentor
from mmseg_attn.deployment import (
    create_session,
    export_onnx,
    optimize_for_inference,
    relative_difference,
)
from mmseg_attn.testing import randomize_norms

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MMSEG_CONFIG = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'bisenetv1',
                        'bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
OURS_MMSEG = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
CONVERTER = osp.join(REPO_ROOT, 'tools', 'model_converters', 'bisenetv1_mmseg2attn.py')
TARGETS = {'ours (ONNX Runtime)': 0.5, 'ours (fast path)': 0.6}


def build(config: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_segmentor(config)
    model.init_weights()
    randomize_norms(model, torch.Generator().manual_seed(seed))  # else BN folding is a no-op
    return model.eval()


def converter():
    spec = importlib.util.spec_from_file_location('bisenetv1_mmseg2attn', CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def paths(model: torch.nn.Module, shape, tmpdir: str, threads: int, name: str):
    """``{label: (fn, output)}`` for eager, fast path and ONNX Runtime of one model."""
    h, w = shape
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    metas = [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w))]
    fast = optimize_for_inference(copy.deepcopy(model), fuse_conv_bn=True, channels_last=True)
    onnx_file = osp.join(tmpdir, f'{name}.onnx')
    export_onnx(model, onnx_file, shape)
    session = create_session(onnx_file, threads)
    feed = {session.get_inputs()[0].name: x.numpy()}

    def eager():
        with torch.no_grad():
            return model.encode_decode(x, metas)

    def fast_path():
        with torch.no_grad():
            return fast.encode_decode(x, metas)

    def ort():
        return session.run(None, feed)[0]

    return x, {'eager': eager, 'fast path': fast_path, 'ONNX Runtime': ort}


def as_numpy(out) -> np.ndarray:
    return out.float().contiguous().numpy() if isinstance(out, torch.Tensor) else out


def bisenet_comparison(args, tmpdir):
    threads = torch.get_num_threads()
    theirs = build(MMSEG_CONFIG)
    ours = build_segmentor(OURS_MMSEG)
    state = converter().convert(theirs.state_dict())
    missing, _ = ours.load_state_dict(state, strict=False)  # auxiliary heads are not built
    if missing:
        raise RuntimeError(f'the converted weights miss {missing[:5]}')
    ours.eval()
    shape = tuple(args.shape)
    h, w = shape
    x, ours_fns = paths(ours, shape, tmpdir, threads, 'bisenet_mmseg_r18')
    metas = [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w))]

    def mmseg_eager():
        with torch.no_grad():
            return theirs.encode_decode(x, metas)

    fns = {'mmseg BiSeNetV1 (eager)': mmseg_eager}
    fns.update({f'ours ({k})': v for k, v in ours_fns.items()})
    reference = as_numpy(mmseg_eager())
    diffs = {name: relative_difference(as_numpy(fn()), reference) for name, fn in fns.items()}
    results = time_interleaved(fns, repeats=args.repeat, warmup=args.warmup)
    base = results['mmseg BiSeNetV1 (eager)']
    gflops = sum(count_flops(theirs, x)[''].values()) / 1e9  # the resize adds no FLOPs
    peak = gemm_peak_gflops()
    print(f'BiSeNet-R18 (mmseg variant) vs mmseg BiSeNetV1-R18: input 1x3x{h}x{w}, '
          f'{threads} threads, {args.repeat} rounds (+{args.warmup} warm-up), torch '
          f'{torch.__version__}, onnxruntime {_ort_version()}; {gflops:.2f} GFLOPs '
          '(1 multiply-add = 2 FLOPs)')
    print('| model | median (ms) | min (ms) | ratio of medians | median of paired ratios | '
          'rel. diff of logits to mmseg | GFLOP/s (% of GEMM peak) | target |')
    print('|---|---|---|---|---|---|---|---|')
    ok = True
    for name, res in results.items():
        ratio = res.median_ms / base.median_ms
        paired = res.ratio_to(base)
        target = TARGETS.get(name)
        verdict = '-'
        if target is not None:
            passed = ratio <= target and diffs[name] <= 1e-4
            ok &= passed
            verdict = f'<= {target}x: {"met" if passed else "NOT met"}'
        rate = gflops / res.median_ms * 1e3
        print(f'| {name} | {res.median_ms:.1f} | {res.min_ms:.1f} | {ratio:.3f} | '
              f'{paired:.3f} | {diffs[name]:.1e} | {rate:.1f} ({rate / peak:.0%}) | {verdict} |')
    floor = gflops / peak * 1e3
    print(f'GEMM peak here ({threads} threads, float32): {peak:.1f} GFLOP/s, so no float32 path '
          f'runs these {gflops:.2f} GFLOPs in less than {floor:.1f} ms = '
          f'{floor / base.median_ms:.3f}x of mmseg\'s eager median')
    return ok


def family_table(args, tmpdir):
    threads = torch.get_num_threads()
    shape = tuple(args.shape)
    print(f'input 1x3x{shape[0]}x{shape[1]}, {threads} threads, {args.repeat} rounds '
          f'(+{args.warmup} warm-up), torch {torch.__version__}, onnxruntime {_ort_version()}')
    print('| config | eager median (ms) | fast path / eager | ONNX Runtime / eager | '
          'rel. diff fast path | rel. diff ONNX Runtime |')
    print('|---|---|---|---|---|---|')
    for i, config in enumerate(args.configs):
        name = osp.splitext(osp.basename(config))[0]
        try:
            model = build(config)
            _, fns = paths(model, shape, tmpdir, threads, f'model{i}')
        except Exception as exc:  # report and go on with the next config
            print(f'| {name} | failed: {type(exc).__name__}: {str(exc).splitlines()[0]} |||||')
            continue
        reference = as_numpy(fns['eager']())
        diffs = {k: relative_difference(as_numpy(fn()), reference) for k, fn in fns.items()}
        res = time_interleaved(fns, repeats=args.repeat, warmup=args.warmup)
        eager = res['eager']
        print(f'| {name} | {eager.median_ms:.1f} | '
              f'{res["fast path"].median_ms / eager.median_ms:.3f} | '
              f'{res["ONNX Runtime"].median_ms / eager.median_ms:.3f} | '
              f'{diffs["fast path"]:.1e} | {diffs["ONNX Runtime"]:.1e} |', flush=True)
        del model, fns


def _ort_version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def main():
    parser = argparse.ArgumentParser(description='CPU latency of eager, fast path and ONNX '
                                     'Runtime inference')
    parser.add_argument('--configs', nargs='+', help='time these configs instead of the '
                        'BiSeNet comparison')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 1024], help='H W')
    parser.add_argument('--repeat', type=int, default=10, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmpdir:
        if args.configs:
            family_table(args, tmpdir)
            return 0
        return 0 if bisenet_comparison(args, tmpdir) else 1


if __name__ == '__main__':
    raise SystemExit(main())
