# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The comparison harness of the benchmarks: several ways of computing the same
thing, timed interleaved, each as a ratio to a baseline, outputs checked.

Every side-by-side table of this package (blocks against their references,
heads, the BiSeNet and deployment paths) is made with :func:`compare` and
written with :func:`~mmseg_attn.analysis.report.markdown_table`.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Union

import numpy as np
import torch

from .timing import TimingResult, time_interleaved

__all__ = ['Compared', 'as_array', 'compare', 'relative_difference']


def as_array(out: Any) -> np.ndarray:
    """A tensor, array or the first of a list/tuple of them, as a float64 array."""
    if isinstance(out, (list, tuple)):
        out = out[0]
    if isinstance(out, torch.Tensor):
        out = out.detach().float().cpu().contiguous().numpy()
    return np.asarray(out, dtype=np.float64)


def relative_difference(actual: Any, expected: Any) -> float:
    """``max |actual - expected| / max |expected|`` (0 for two zero arrays)."""
    actual, expected = as_array(actual), as_array(expected)
    if actual.shape != expected.shape:
        raise ValueError(f'shapes differ: {actual.shape} vs {expected.shape}')
    scale = np.abs(expected).max() if expected.size else 0.0
    diff = np.abs(actual - expected).max() if expected.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


@dataclass
class Compared:
    """One candidate of a :func:`compare`.

    Attributes:
        timing (TimingResult): Its timed rounds.
        ratio (float): Its median over the baseline's median.
        paired (float): The median of the per-round ratios to the baseline
            (robust to a load that drifts during the run).
        rel_diff (float, optional): :func:`relative_difference` of its output
            to the baseline's (with ``check_outputs``).
    """

    timing: TimingResult
    ratio: float
    paired: float
    rel_diff: Optional[float] = None

    @property
    def median_ms(self) -> float:
        return self.timing.median_ms

    @property
    def min_ms(self) -> float:
        return self.timing.min_ms


def compare(fns: Dict[str, Callable[[], Any]],
            baseline: Optional[str] = None,
            repeats: int = 10,
            warmup: int = 2,
            device: Union[str, torch.device, None] = None,
            clock: str = 'wall',
            check_outputs: bool = False) -> Dict[str, Compared]:
    """Time ``fns`` interleaved (:func:`~.timing.time_interleaved`) against ``baseline``.

    Args:
        fns (dict[str, callable]): Zero-argument functions by name.
        baseline (str, optional): The name the ratios are taken to.
            Defaults to None (the first).
        repeats (int): Timed rounds. Defaults to 10.
        warmup (int): Untimed rounds first. Defaults to 2.
        device (str | torch.device, optional): A CUDA device is synchronised
            around every call. Defaults to None.
        clock (str): ``'wall'`` or ``'cpu'`` (see ``time_interleaved``).
            Defaults to 'wall'.
        check_outputs (bool): Call each function once more, untimed, and
            give the relative difference of its output to the baseline's.
            Defaults to False.

    Returns:
        dict[str, Compared]: By name, in the order of ``fns``.
    """
    baseline = next(iter(fns)) if baseline is None else baseline
    if baseline not in fns:
        raise ValueError(f'baseline {baseline!r} is not one of {list(fns)}')
    diffs = {}
    if check_outputs:
        with torch.no_grad():
            reference = fns[baseline]()
            diffs = {name: relative_difference(fn(), reference) for name, fn in fns.items()}
    times = time_interleaved(fns, repeats, warmup, device, clock)
    base = times[baseline]
    return {name: Compared(t, t.median_ms / base.median_ms, t.ratio_to(base), diffs.get(name))
            for name, t in times.items()}
