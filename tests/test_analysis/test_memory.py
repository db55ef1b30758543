"""mmseg_attn.analysis.memory: peak memory of a step, in this process and in a fresh one."""
import importlib
import json
import multiprocessing
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from mmseg_attn.analysis import memory, peak_memory, peak_memory_in_fresh_process

MIB = 2**20


@pytest.fixture
def steps(monkeypatch):
    """The setups of memory_steps.py, importable by name in a spawned process."""
    monkeypatch.syspath_prepend(osp.dirname(osp.abspath(__file__)))
    return importlib.import_module('memory_steps')


def _resident_peaks() -> dict:
    """The in-process measures of this module, taken in a fresh interpreter: in a
    test worker the memory that earlier tests held and freed would stay
    resident and hide the growth that the measures look for."""
    code = f"""
import json, sys
sys.path.insert(0, {osp.dirname(osp.abspath(__file__))!r})
import memory_steps as steps
from mmseg_attn.analysis import memory, peak_memory
out = dict(known=[peak_memory(steps.allocate(64)), peak_memory(steps.allocate(64))],
           nothing=peak_memory(lambda: None))
memory._reset_peak_rss = lambda: False  # where the high-water mark cannot be reset
with memory.ResidentPeak() as tracker:
    steps.allocate(64, hold_s=0.05)()
out['sampled'] = [tracker.exact, tracker.peak - tracker.before]
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_in_process_peaks():
    peaks = _resident_peaks()
    first, second = peaks['known']
    assert 62 * MIB <= first <= 70 * MIB, first / MIB
    # after the step the tensor is freed: a second measure sees it again
    assert 62 * MIB <= second <= 70 * MIB, second / MIB
    # the peak of nothing is small
    assert 0 <= peaks['nothing'] < 4 * MIB
    # where the kernel's high-water mark cannot be reset, a thread samples
    exact, sampled = peaks['sampled']
    assert not exact and 60 * MIB <= sampled <= 70 * MIB, sampled / MIB


def test_fresh_process(steps):
    peak = peak_memory_in_fresh_process(steps.allocate, 64)
    assert 62 * MIB <= peak <= 80 * MIB, peak / MIB


def test_child_refuses_a_setup_without_step():
    receiver, sender = multiprocessing.Pipe(duplex=False)
    memory._run_in_child(pickle.dumps((abs, (3, ), {}, 'cpu', 1)), sender)
    status, error, trace = receiver.recv()
    assert status == 'error' and isinstance(error, TypeError)
    assert 'zero-argument step' in str(error) and 'Traceback' in trace


def test_fresh_process_errors_reach_the_caller(steps):
    with pytest.raises(KeyError, match='no such key'):
        peak_memory_in_fresh_process(steps.fail, 'no such key')
    with pytest.raises(AttributeError):  # a local function does not pickle: said at once
        peak_memory_in_fresh_process(lambda: steps.allocate(1))


def test_bad_device():
    with pytest.raises(ValueError, match='device'):
        peak_memory(lambda: None, device='meta')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_peak_is_the_allocator_peak():
    def step():
        x = torch.ones(64 * MIB // 4, device='cuda')
        return x.sum()

    peak = peak_memory(step, device='cuda')
    assert 64 * MIB <= peak <= 65 * MIB, peak / MIB  # the tensor, the sum and its workspace
