"""mmseg_attn.analysis.timing: interleaved rounds in a rotating order, medians, paired ratios."""
import statistics
import time

import pytest
import torch
import torch.nn as nn

from mmseg_attn.analysis import (
    TimingResult,
    gemm_peak_gflops,
    time_inference,
    time_interleaved,
    timing,
)


def test_interleaving_order_rotates():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in 'abc'}
    results = time_interleaved(fns, repeats=3, warmup=1)
    # round i starts with the i-th function (modulo 3); the warm-up round is round 0
    assert calls == list('abc' 'bca' 'cab' 'abc')
    assert list(results) == ['a', 'b', 'c']
    for result in results.values():
        assert len(result.times_ms) == 3 and all(t >= 0 for t in result.times_ms)


def test_medians_and_paired_ratio():
    fast, slow = TimingResult([2.0, 4.0, 6.0]), TimingResult([1.0, 1.0, 3.0])
    assert fast.median_ms == 4.0 and fast.min_ms == 2.0
    # per-round ratios 2, 4, 2: their median, not the ratio of the medians (4)
    assert fast.ratio_to(slow) == 2.0
    with pytest.raises(ValueError, match='same rounds'):
        fast.ratio_to(TimingResult([1.0]))


def test_timed_figures_are_the_recorded_runs():

    def sleep_5ms():
        time.sleep(0.005)

    results = time_interleaved(dict(sleep=sleep_5ms, noop=lambda: None), repeats=4, warmup=0)
    sleep = results['sleep']
    assert sleep.median_ms == statistics.median(sleep.times_ms)
    assert sleep.min_ms >= 5.0
    assert results['noop'].median_ms < sleep.min_ms


def test_cpu_clock_ignores_sleep():
    results = time_interleaved(dict(sleep=lambda: time.sleep(0.02)), repeats=2, warmup=0,
                               clock='cpu')
    assert results['sleep'].median_ms < 10.0  # the wall clock would read >= 20 ms


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(fns={}), TypeError, 'fns'),
    (dict(fns=dict(a=1)), TypeError, 'fns'),
    (dict(fns=dict(a=print), repeats=0), ValueError, 'repeats'),
    (dict(fns=dict(a=print), warmup=-1), ValueError, 'warmup'),
    (dict(fns=dict(a=print), clock='gpu'), ValueError, 'clock'),
    (dict(fns=dict(a=print), clock='cpu', device='cuda'), ValueError, 'clock'),
])
def test_time_interleaved_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        time_interleaved(**kwargs)


def test_time_inference_runs_warmup_then_timed_batches():

    class Counter(nn.Module):

        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))
            self.calls = 0

        def forward(self, inputs, data_samples, mode):
            assert mode == 'predict' and not torch.is_grad_enabled()
            self.calls += 1

    model = Counter()
    batch = (torch.zeros(2, 3, 4, 4), None)
    stats = time_inference(model, iter([batch] * 100), num_iters=4, num_warmup=3,
                           log_interval=0)
    assert model.calls == 7
    assert stats['batches'] == 4 and stats['images'] == 8
    lat = stats['latency_ms']
    assert 0 <= lat['min'] <= lat['median'] <= lat['max']
    assert stats['fps'] > 0
    # the first (untimed) batch measured the resident memory of the process
    assert 0 <= stats['peak_extra_memory_mb'] <= stats['peak_memory_mb']
    assert stats['peak_memory_mb'] > 0 and stats['device'] == 'cpu'
    # a finite input that ends early times what it has
    model.calls = 0
    stats = time_inference(model, iter([batch] * 5), num_iters=10, num_warmup=3,
                           log_interval=0)
    assert model.calls == 5 and stats['batches'] == 2


def test_gemm_peak_is_the_best_timed_product(monkeypatch):
    # one warm-up product (10 s, ignored), then 3 timed ones of 4, 2 and 3 s
    ticks = iter([0, 10, 10, 14, 14, 16, 16, 19])
    monkeypatch.setattr(timing.time, 'perf_counter', lambda: next(ticks))
    calls = []
    real_mm = torch.mm
    monkeypatch.setattr(timing.torch, 'mm', lambda a, b: calls.append(a.shape) or real_mm(a, b))
    assert gemm_peak_gflops(size=8, repeats=3) == pytest.approx(2 * 8**3 / 2 / 1e9)
    assert calls == [(8, 8)] * 4
    monkeypatch.undo()
    assert 0 < gemm_peak_gflops(size=32, repeats=2) < float('inf')
    with pytest.raises(ValueError, match='size and repeats'):
        gemm_peak_gflops(size=0)
