"""Setups for the fresh-process memory tests: importing this module imports only torch."""
import time

import torch

MIB = 2**20


def allocate(mib: int, hold_s: float = 0.0):
    """A setup whose step fills a ``mib`` MiB float32 tensor (every page touched)."""

    def step():
        x = torch.ones(mib * MIB // 4)
        time.sleep(hold_s)
        return x.sum()

    return step


def fail(message: str):
    """A setup that raises."""
    raise KeyError(message)
