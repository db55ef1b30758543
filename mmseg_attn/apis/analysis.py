# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Model building, FLOPs per module and inference timing for the tools.

Used by ``tools/get_flops.py``, ``tools/benchmark.py`` and
``tools/visualize_attention.py``.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`,
which sees every aten matrix product the model runs: convolutions, ``mm`` /
``addmm`` (``nn.Linear``), ``bmm`` / ``baddbmm`` (``torch.matmul`` and
``torch.einsum`` lower to them) and scaled dot-product attention. That
matters for FLANet, whose Fully Attentional block costs nothing but matrix
products. One multiply-add counts as **2 FLOPs** (torch's convention);
``MACs = FLOPs / 2`` is the number mmseg's ``get_flops.py`` (mmengine's
fvcore-style analysis) prints as "Flops". Element-wise operations, norms,
pooling and interpolation are not counted.
"""
import os
import os.path as osp
import threading
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.utils.flop_counter import FlopCounterMode

from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg

__all__ = [
    'ModuleCost', 'build_segmentor', 'costs_as_dicts', 'count_flops', 'format_count',
    'format_cost_table', 'module_costs', 'random_batch', 'time_inference'
]

#: aten ops counted as convolution / matrix product in the table's columns.
CONV_OPS = ('convolution', '_convolution', 'convolution_backward')
MATMUL_OPS = ('mm', 'addmm', 'bmm', 'baddbmm', '_scaled_dot_product_efficient_attention',
              '_scaled_dot_product_flash_attention', '_scaled_dot_product_cudnn_attention',
              '_scaled_dot_product_fused_attention_overrideable')


def build_segmentor(config: Union[str, Config],
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    cfg_options: Optional[dict] = None,
                    keep_auxiliary: bool = False) -> nn.Module:
    """Build the segmentor of a config for inference or analysis.

    SyncBN becomes BN and ``Pretrained`` inits are dropped (nothing is
    downloaded); the weights come from ``checkpoint`` when given (loaded
    with the secure loader of :mod:`mmseg_attn.compat`), else they keep
    PyTorch's default initialisation (``init_weights`` is not called, as in
    mmseg's analysis tools). The auxiliary heads are removed unless
    ``keep_auxiliary`` (they do not run at inference).

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load. Defaults to None.
        device (str): Device of the model. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.
        keep_auxiliary (bool): Keep ``auxiliary_head``. Defaults to False.

    Returns:
        nn.Module: The segmentor in eval mode, with ``cfg`` attached.
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    cfg.model.train_cfg = None
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint) and '://' not in checkpoint:
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        load_checkpoint(model, checkpoint, map_location='cpu')
    if not keep_auxiliary and getattr(model, 'auxiliary_head', None) is not None:
        model.auxiliary_head = None
    model.cfg = cfg
    return model.to(device).eval()


def random_batch(shape: Sequence[int], batch_size: int = 1,
                 device: Union[str, torch.device] = 'cpu', seed: int = 0,
                 channels: int = 3) -> Tuple[torch.Tensor, List[SegDataSample]]:
    """Normalised random images and their data samples, as after the data preprocessor.

    Args:
        shape (Sequence[int]): ``(H, W)`` of the images.
        batch_size (int): Number of images. Defaults to 1.
        device: Device of the tensor. Defaults to 'cpu'.
        seed (int): Seed of the images. Defaults to 0.
        channels (int): Channels of the images. Defaults to 3.

    Returns:
        tuple: ``inputs (N, channels, H, W)`` and ``N`` data samples whose
        ``img_shape``, ``ori_shape`` and ``pad_shape`` are ``(H, W)``.
    """
    h, w = shape
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, channels, h, w, generator=generator)
    if str(device) != 'meta':
        inputs = inputs.to(device)
    else:
        inputs = torch.empty_like(inputs, device='meta')
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0] * 4)
    return inputs, [SegDataSample(metainfo=meta) for _ in range(batch_size)]


def count_flops(model: nn.Module, inputs: torch.Tensor,
                mode: Optional[str] = 'tensor') -> Dict[str, Dict[str, int]]:
    """FLOPs of one forward, per module (inclusive) and per aten op.

    FlopCounterMode only sees modules that are *called*; a segmentor calls
    ``self.decode_head.forward(x)`` directly, for instance, so the head
    itself is invisible while its submodules are seen. The counts are
    therefore rebuilt from the module tree: each op is attributed to the
    innermost called module that ran it, and a module's count is the sum
    over itself and all its descendants.

    Args:
        model (nn.Module): The segmentor.
        inputs (Tensor): Its input ``(N, C, H, W)`` (may live on the
            ``meta`` device: nothing is computed then, only counted).
        mode (str, optional): The segmentor's forward mode; None calls
            ``model(inputs)`` (any module). Defaults to 'tensor' (backbone,
            neck and decode head without resizing, as mmseg's
            ``get_flops.py``).

    Returns:
        dict: ``{module path: {op name: FLOPs}}`` for every module of
        ``model.named_modules()`` that ran counted ops; ``''`` is the whole
        model.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        if mode is None:
            model(inputs)
        else:
            model(inputs, mode=mode)
    root = type(model).__name__
    inclusive = {}
    for name, ops in counter.get_flop_counts().items():
        if name == 'Global':
            path = ''
        elif name == root:
            continue
        elif name.startswith(root + '.'):
            path = name[len(root) + 1:]
        else:
            continue
        inclusive[path] = {_op_name(op): int(v) for op, v in ops.items()}

    def parent(path):
        while path:
            path = path.rpartition('.')[0]
            if path in inclusive:
                return path
        return None

    exclusive = {p: dict(ops) for p, ops in inclusive.items()}
    for path, ops in inclusive.items():
        if path == '':
            continue
        owner = exclusive[parent(path)]
        for op, v in ops.items():
            owner[op] = owner.get(op, 0) - v
    counts = {'': {}}
    for path, ops in exclusive.items():
        parts = path.split('.') if path else []
        for i in range(len(parts) + 1):
            total = counts.setdefault('.'.join(parts[:i]), {})
            for op, v in ops.items():
                total[op] = total.get(op, 0) + v
    return {p: {op: v for op, v in ops.items() if v} for p, ops in counts.items()}


def _op_name(op) -> str:
    """``aten.convolution.default`` / packet -> ``'convolution'``."""
    name = getattr(op, '__name__', None)
    if name:
        return name.split('.')[0]
    parts = str(op).split('.')
    return parts[1] if len(parts) > 1 else parts[0]


@dataclass
class ModuleCost:
    """Parameters and FLOPs of one module (FLOPs = 2 x multiply-adds)."""

    name: str
    type: str
    depth: int
    params: int
    flops: int
    conv_flops: int
    matmul_flops: int


def _split(ops: Dict[str, int]) -> Tuple[int, int, int]:
    total = sum(ops.values())
    conv = sum(v for k, v in ops.items() if k in CONV_OPS)
    matmul = sum(v for k, v in ops.items() if k in MATMUL_OPS)
    return total, conv, matmul


def module_costs(model: nn.Module, inputs: torch.Tensor, max_depth: Optional[int] = None,
                 mode: Optional[str] = 'tensor') -> List[ModuleCost]:
    """One row per module (in ``named_modules`` order) down to ``max_depth``.

    Modules without parameters and without counted FLOPs are left out; the
    first row is always the whole model (depth 0).

    Args:
        model (nn.Module): The segmentor.
        inputs (Tensor): Its input.
        max_depth (int, optional): Deepest level shown (``backbone`` is 1,
            ``backbone.layer1`` 2, ...). Defaults to None, meaning all.
        mode (str, optional): The forward mode, see :func:`count_flops`.
            Defaults to 'tensor'.
    """
    counts = count_flops(model, inputs, mode)
    rows = []
    for name, module in model.named_modules():
        depth = 0 if name == '' else name.count('.') + 1
        if max_depth is not None and depth > max_depth:
            continue
        flops, conv, matmul = _split(counts.get(name, {}))
        params = sum(p.numel() for p in module.parameters())
        if name and not params and not flops:
            continue
        rows.append(ModuleCost(name or '(model)', type(module).__name__, depth, params, flops,
                               conv, matmul))
    return rows


def format_count(value: float, unit: str = '') -> str:
    """``1234567 -> '1.235M'`` (K, M, G, T)."""
    for suffix, scale in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(value) >= scale:
            return f'{value / scale:.3f}{suffix}{unit}'
    return f'{value:.0f}{unit}'


def format_cost_table(rows: List[ModuleCost]) -> str:
    """A Markdown table of :func:`module_costs` rows (names indented by depth)."""
    header = ('module', 'type', '#params', 'FLOPs', 'conv FLOPs', 'matmul FLOPs', '% FLOPs')
    total = rows[0].flops or 1
    lines = []
    for r in rows:
        lines.append(('  ' * r.depth + r.name, r.type, format_count(r.params),
                      format_count(r.flops), format_count(r.conv_flops),
                      format_count(r.matmul_flops), f'{100 * r.flops / total:.1f}'))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]

    def fmt(cells):
        return '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(cells, widths)) + ' |'

    out = [fmt(header), '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    out += [fmt(line) for line in lines]
    return '\n'.join(out)


def costs_as_dicts(rows: List[ModuleCost]) -> List[dict]:
    """The rows as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]


def time_inference(model: nn.Module,
                   batches,
                   num_iters: int = 200,
                   num_warmup: int = 5,
                   log_interval: int = 50,
                   logger=print) -> dict:
    """Time ``model(inputs, data_samples, mode='predict')`` batch by batch.

    Args:
        model (nn.Module): The segmentor in eval mode.
        batches (Iterable): Yields ``(inputs, data_samples)`` already on the
            model's device; iterated until ``num_warmup + num_iters``
            batches have run (a finite iterable may end earlier).
        num_iters (int): Timed batches. Defaults to 200.
        num_warmup (int): Batches run before timing (at least 1: the
            first batch measures memory). Defaults to 5.
        log_interval (int): Print the running FPS every so many batches.
            Defaults to 50.
        logger (callable): Where the progress goes. Defaults to print.

    Returns:
        dict: ``fps`` (images / s), ``latency_ms`` (mean, median, std, min,
        max per batch), ``images``, ``batches``, ``peak_memory_mb`` and
        ``peak_extra_memory_mb``. On CUDA these are the peak of
        ``torch.cuda.max_memory_allocated`` over the timed batches (as
        mmengine logs it) and that peak minus the memory allocated before
        them. On the CPU they are the peak resident set size of the process
        during the first (untimed) batch, sampled every 0.2 ms, and its
        growth over the size before that batch: a lower bound of the
        memory a forward needs, as the allocator may reuse memory it already
        holds.
    """
    device = next(iter(model.parameters())).device
    cuda = device.type == 'cuda'
    num_warmup = max(1, num_warmup)
    times, images = [], 0
    memory = {}
    for i, (inputs, data_samples) in enumerate(batches):
        if i == num_warmup and cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
            memory['before'] = torch.cuda.memory_allocated(device)
        if cuda:
            torch.cuda.synchronize()
        sampler = _RSSSampler() if i == 0 and not cuda else None
        start = time.perf_counter()
        with torch.no_grad():
            if sampler is not None:
                with sampler:
                    model(inputs, data_samples, mode='predict')
                memory.update(before=sampler.before, peak=sampler.peak)
            else:
                model(inputs, data_samples, mode='predict')
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if i >= num_warmup:
            times.append(elapsed)
            images += inputs.shape[0]
            done = i + 1 - num_warmup
            if log_interval and done % log_interval == 0:
                logger(f'Done image [{done:<3}/ {num_iters}], '
                       f'fps: {images / sum(times):.2f} img / s')
        if i + 1 >= num_warmup + num_iters:
            break
    if not times:
        raise ValueError(f'no batch was timed: the input gave fewer than num_warmup + 1 = '
                         f'{num_warmup + 1} batches')
    if cuda:
        memory['peak'] = torch.cuda.max_memory_allocated(device)
    latency = np.array(times) * 1000
    return dict(
        fps=images / sum(times),
        latency_ms=dict(mean=float(latency.mean()), median=float(np.median(latency)),
                        std=float(latency.std()), min=float(latency.min()),
                        max=float(latency.max())),
        images=images,
        batches=len(times),
        peak_memory_mb=memory.get('peak', 0) / 2**20,
        peak_extra_memory_mb=max(0, memory.get('peak', 0) - memory.get('before', 0)) / 2**20,
        device=str(device))


def _rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; else psutil; else 0)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        return 0


class _RSSSampler:
    """Sample the resident set size in a thread while the block runs."""

    def __init__(self, interval: float = 2e-4):
        self.interval = interval
        self.before = self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.before = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
