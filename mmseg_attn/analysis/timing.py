# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Latency: one timer with warm-up, interleaving and medians.

:func:`time_interleaved` times several functions round by round, in an order
that rotates every round, so that a change of machine load during the run
affects all of them alike; a comparison reads the median of the per-round
ratios (:meth:`TimingResult.ratio_to`). :func:`time_inference` times a
segmentor batch by batch (the measurement of ``tools/analysis_tools/benchmark.py``).
:func:`gemm_peak_gflops` measures what a matrix product reaches on this
machine: the ceiling that a compute-bound model's FLOPs per second can be
read against.
"""
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn

from .memory import ResidentPeak

__all__ = ['TimingResult', 'gemm_peak_gflops', 'time_inference', 'time_interleaved']

_CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


@dataclass
class TimingResult:
    """The timed runs of one function, in milliseconds, one per round."""

    times_ms: List[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        """Median latency (ms)."""
        return statistics.median(self.times_ms)

    @property
    def min_ms(self) -> float:
        """Fastest run (ms)."""
        return min(self.times_ms)

    def ratio_to(self, other: 'TimingResult') -> float:
        """Median over the rounds of ``self / other`` (robust to a drifting load).

        Raises:
            ValueError: When the two results have different numbers of rounds.
        """
        if len(self.times_ms) != len(other.times_ms) or not self.times_ms:
            raise ValueError(f'ratio_to needs results of the same rounds, got '
                             f'{len(self.times_ms)} and {len(other.times_ms)} runs')
        return statistics.median(
            a / b if b else float('nan') for a, b in zip(self.times_ms, other.times_ms))


def _sync(device: Optional[torch.device]) -> None:
    if device is not None and device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_interleaved(fns: Dict[str, Callable[[], object]],
                     repeats: int = 10,
                     warmup: int = 2,
                     device: Union[str, torch.device, None] = None,
                     clock: str = 'wall') -> Dict[str, TimingResult]:
    """Time several functions interleaved, in a rotating order.

    Round ``i`` calls the functions starting from the ``i``-th (modulo their
    number), so each one goes first, second, ... equally often. ``warmup``
    untimed rounds come first.

    Args:
        fns (dict[str, callable]): Zero-argument functions by name.
        repeats (int): Timed rounds. Defaults to 10.
        warmup (int): Untimed rounds first. Defaults to 2.
        device (str | torch.device, optional): A CUDA device is synchronised
            around every call. Defaults to None.
        clock (str): ``'wall'``: elapsed time; ``'cpu'``: CPU time of this
            process, which other processes on a shared machine do not
            inflate (CPU only). Defaults to 'wall'.

    Returns:
        dict[str, TimingResult]: By name, in the order of ``fns``.
    """
    if not fns or not all(callable(fn) for fn in fns.values()):
        raise TypeError('time_interleaved needs a non-empty dict of callables as fns')
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f'repeats must be an int >= 1, got {repeats!r}')
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f'warmup must be an int >= 0, got {warmup!r}')
    if clock not in _CLOCKS:
        raise ValueError(f'clock must be one of {sorted(_CLOCKS)}, got {clock!r}')
    device = None if device is None else torch.device(device)
    if clock == 'cpu' and device is not None and device.type != 'cpu':
        raise ValueError(f"clock='cpu' measures CPU time and needs a CPU device, got {device}")
    now = _CLOCKS[clock]
    names = list(fns)
    results = {name: TimingResult() for name in names}
    for i in range(warmup + repeats):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            _sync(device)
            start = now()
            fns[name]()
            _sync(device)
            if i >= warmup:
                results[name].times_ms.append((now() - start) * 1e3)
    return results


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
            first batch measures memory on the CPU). Defaults to 5.
        log_interval (int): Print the running FPS every so many batches.
            Defaults to 50.
        logger (callable): Where the progress goes. Defaults to print.

    Returns:
        dict: ``fps`` (images / s), ``latency_ms`` (mean, median, std, min,
        max per batch), ``images``, ``batches``, ``peak_memory_mb``,
        ``peak_extra_memory_mb`` and ``device``. On CUDA the memory figures
        are the peak of ``torch.cuda.max_memory_allocated`` over the timed
        batches (as mmengine logs it) and that peak minus the memory
        allocated before them. On the CPU they are the peak resident set
        size of the process during the first (untimed) batch and its growth
        over the size before that batch (:mod:`.memory`): a lower bound of
        the memory a forward needs, as the allocator may reuse memory it
        already holds.
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
        _sync(device)
        tracker = ResidentPeak() if i == 0 and not cuda else None
        start = time.perf_counter()
        with torch.no_grad():
            if tracker is not None:
                with tracker:
                    model(inputs, data_samples, mode='predict')
                memory.update(before=tracker.before, peak=tracker.peak)
            else:
                model(inputs, data_samples, mode='predict')
        _sync(device)
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


def gemm_peak_gflops(size: int = 2048,
                     repeats: int = 5,
                     dtype: torch.dtype = torch.float32,
                     device: Union[str, torch.device] = 'cpu') -> float:
    """FLOP rate of a large square matrix product, in GFLOP/s (2 per multiply-add).

    The best of ``repeats`` timed ``size x size`` products after one
    warm-up, with the current ``torch.get_num_threads()``: in practice the
    peak of this machine for dense arithmetic in ``dtype`` (BLAS is tuned
    close to the hardware's limit), which no convolution or attention
    kernel exceeds. A model's FLOPs divided by this rate is a lower bound
    of its latency.

    Args:
        size (int): Side of the matrices. Defaults to 2048.
        repeats (int): Timed products. Defaults to 5.
        dtype (torch.dtype): Defaults to torch.float32.
        device (str | torch.device): Defaults to 'cpu'.
    """
    if size < 1 or repeats < 1:
        raise ValueError(f'size and repeats must be positive, got {size} and {repeats}')
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator, device=device).to(dtype)
            for _ in range(2))
    best = float('inf')
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        elapsed = time.perf_counter() - start
        if i:  # the first is the warm-up
            best = min(best, elapsed)
    return 2 * size**3 / best / 1e9
