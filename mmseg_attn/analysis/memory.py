# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Peak memory of a step: one method for the CPU and one for CUDA.

- CUDA: ``torch.cuda.max_memory_allocated`` after
  ``torch.cuda.reset_peak_memory_stats``, minus the memory allocated at entry
  (tensor memory of PyTorch's caching allocator).
- CPU: the growth of the process's peak resident set size, read exactly from
  the kernel: writing ``5`` to ``/proc/self/clear_refs`` resets ``VmHWM`` (the
  high-water mark in ``/proc/self/status``) to the current resident size, and
  ``VmHWM`` after the step minus the resident size at entry is the peak. Where
  that is unavailable (not Linux, or a kernel without it) a thread samples
  the resident size every 0.2 ms instead (a lower bound).

On the CPU the figure counts what the process had to take from the system:
memory that the allocator already holds from earlier work is reused without
growing the resident size. :func:`peak_memory_in_fresh_process` therefore runs
the step as the first work of a new process, which makes figures of
different steps comparable; it is the method of the benchmark tools.
"""
import multiprocessing
import pickle
import re
import runpy
import threading
import traceback
from typing import Callable, Optional, Union

import torch

__all__ = ['ResidentPeak', 'peak_memory', 'peak_memory_in_fresh_process']

_STATUS = '/proc/self/status'


def _status_bytes(key: str) -> Optional[int]:
    """A ``kB`` field of ``/proc/self/status`` in bytes (None if unavailable)."""
    try:
        with open(_STATUS) as f:
            match = re.search(rf'^{key}:\s+(\d+)\s+kB', f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _rss_bytes() -> int:
    """Resident set size of this process (``/proc``; else psutil; else 0)."""
    rss = _status_bytes('VmRSS')
    if rss is not None:
        return rss
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        return 0


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident size; False where unsupported."""
    if _status_bytes('VmHWM') is None:
        return False
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        return False
    return True


class ResidentPeak:
    """Context manager: resident size at entry (``before``) and its peak inside (``peak``).

    Both in bytes. Exact (kernel high-water mark) where ``/proc/self/clear_refs``
    can reset it, else sampled by a thread every ``interval`` seconds.

    Args:
        interval (float): Sampling period of the fallback. Defaults to 2e-4.
    """

    def __init__(self, interval: float = 2e-4):
        self.interval = interval
        self.before = self.peak = 0
        self.exact = False
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.exact = _reset_peak_rss()
        self.before = self.peak = _rss_bytes()
        if not self.exact:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.exact:
            self.peak = max(self.before, _status_bytes('VmHWM') or 0)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())
        return False


def _device(device) -> torch.device:
    device = torch.device('cpu' if device is None else device)
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f'peak_memory measures cpu or cuda memory, got device={device}')
    return device


def peak_memory(fn: Callable[[], object],
                device: Union[str, torch.device, None] = None) -> int:
    """Peak memory of ``fn()`` above the level at entry, in bytes.

    Args:
        fn (callable): The step, called once without arguments.
        device (str | torch.device, optional): Where the step allocates:
            ``cuda`` (tensor memory of the caching allocator) or ``cpu``
            (resident memory of the process, see the module docstring).
            Defaults to None, meaning the CPU.

    Returns:
        int: Bytes (never negative).
    """
    device = _device(device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - base)
    with ResidentPeak() as peak:
        fn()
    return max(0, peak.peak - peak.before)


def _run_in_child(payload: bytes, conn) -> None:
    """Body of the fresh process: unpickle the setup, measure its step, send the result."""
    try:
        setup, args, kwargs, device, threads = pickle.loads(payload)
        torch.set_num_threads(threads)
        step = setup(*args, **kwargs)
        if not callable(step):
            raise TypeError(f'setup {getattr(setup, "__qualname__", setup)!r} must return a '
                            f'zero-argument step, got {type(step).__name__}')
        result = ('ok', peak_memory(step, device))
    except BaseException as error:  # noqa: B036  (reported to the parent, which raises)
        result = ('error', error, traceback.format_exc())
    try:
        conn.send(result)
    except Exception:  # the error itself does not pickle
        conn.send(('error', RuntimeError(result[1]), result[2]))
    conn.close()


def peak_memory_in_fresh_process(setup: Callable[..., Callable[[], object]],
                                 *args,
                                 device: Union[str, torch.device, None] = None,
                                 **kwargs) -> int:
    """:func:`peak_memory` of a step run as the first work of a new process.

    A new Python process is spawned (so it inherits no allocator state); it
    calls ``setup(*args, **kwargs)``, which builds the model and inputs and
    returns a zero-argument ``step``, and measures :func:`peak_memory` of the
    step's first call. The child imports only what unpickling ``setup``
    needs (its module, and the main script as :mod:`multiprocessing` does)
    and uses this process's ``torch.get_num_threads()``.

    Args:
        setup (callable): A top-level (picklable) function of an importable
            module, or of the script being run.
        *args: Positional arguments of ``setup`` (picklable).
        device (str | torch.device, optional): See :func:`peak_memory`.
            Defaults to None (the CPU).
        **kwargs: Keyword arguments of ``setup`` (picklable).

    Returns:
        int: Bytes.

    Raises:
        Exception: What ``setup`` or the step raised in the child (with the
            child's traceback as its note), or RuntimeError when the child
            died without an answer.
    """
    device = str(_device(device))
    payload = pickle.dumps((setup, args, kwargs, device, torch.get_num_threads()))
    context = multiprocessing.get_context('spawn')
    receiver, sender = context.Pipe(duplex=False)
    # runpy runs this file as a script in the child: the machinery imports
    # nothing of mmseg_attn (only torch), so the child starts fast
    child = context.Process(
        target=runpy.run_path,
        args=(__file__, ),
        kwargs=dict(init_globals=dict(_PAYLOAD=payload, _CONN=sender), run_name=_CHILD),
        daemon=True)
    child.start()
    sender.close()
    try:
        while not receiver.poll(0.2):
            if not child.is_alive():
                raise RuntimeError(f'the process measuring {setup!r} died (exit code '
                                   f'{child.exitcode}) without an answer')
        answer = receiver.recv()
    finally:
        receiver.close()
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    if answer[0] == 'error':
        error, trace = answer[1], answer[2]
        if hasattr(error, 'add_note'):
            error.add_note(f'in the fresh process:\n{trace}')
        raise error
    return answer[1]


_CHILD = '__mmseg_attn_fresh_process__'

if __name__ == _CHILD:
    _run_in_child(_PAYLOAD, _CONN)  # noqa: F821  (given by runpy.run_path)
