# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Helpers shared by every attention block: widths, gates and checks."""
import numbers
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_activation_layer
from torch import Tensor


def make_divisible(value: float,
                   divisor: int = 1,
                   min_value: Optional[int] = None,
                   min_ratio: float = 0.9) -> int:
    """Round a channel width to the nearest multiple of ``divisor``.

    The result is never below ``min_value`` (``divisor`` when not given), so
    a reduced width can never reach zero, and it is never more than
    ``1 - min_ratio`` below ``value`` (one extra ``divisor`` is added then).
    With ``divisor=1`` the width is ``value`` rounded half up, so
    ``make_divisible(C / r)`` equals the ``C // r`` of the reference code
    whenever ``r`` divides ``C``.

    Args:
        value (float): The unrounded width, e.g. ``in_channels / ratio``.
        divisor (int): The width is a multiple of it. Defaults to 1.
        min_value (int, optional): The smallest width allowed.
            Defaults to None, meaning ``divisor``.
        min_ratio (float): The rounded width is at least
            ``min_ratio * value``. Defaults to 0.9.

    Returns:
        int: The rounded width, at least 1.
    """
    if not isinstance(divisor, numbers.Integral) or isinstance(divisor, bool) or divisor < 1:
        raise ValueError(f'divisor must be a positive integer, got {divisor!r}')
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value <= 0:
        raise ValueError(f'value must be a positive number, got {value!r}')
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return int(new_value)


def check_channels(value, name: str = 'in_channels') -> int:
    """Check that ``value`` is a positive int and return it.

    Raises:
        TypeError: If ``value`` is not an int.
        ValueError: If ``value`` is not positive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {type(value).__name__} {value!r}')
    if value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value}')
    return int(value)


def check_ratio(value, name: str = 'ratio') -> float:
    """Check that a reduction ratio is a positive number and return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {type(value).__name__} {value!r}')
    if value <= 0:
        raise ValueError(f'{name} must be positive (a zero or negative reduction ratio '
                         f'gives no valid width), got {value}')
    return value


def reduced_channels(in_channels: int,
                     ratio: float,
                     divisor: int = 1,
                     mid_channels: Optional[int] = None) -> int:
    """Width of a reduction layer: ``mid_channels`` or ``in_channels / ratio``.

    The division goes through :func:`make_divisible`, so the width is never
    zero. An explicit ``mid_channels`` wins over ``ratio``.
    """
    if mid_channels is not None:
        return check_channels(mid_channels, 'mid_channels')
    check_ratio(ratio)
    return make_divisible(in_channels / ratio, divisor)


def check_kernel_size(value, name: str = 'kernel_size') -> int:
    """Check that a kernel size is a positive odd int (keeps the map size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {type(value).__name__} {value!r}')
    if value < 1 or value % 2 == 0:
        raise ValueError(f'{name} must be a positive odd int so that the map keeps its '
                         f'size, got {value}')
    return int(value)


def check_choice(value, choices: Sequence, name: str):
    """Check that ``value`` is one of ``choices`` and return it."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def build_gate(gate_cfg: Optional[dict] = None) -> nn.Module:
    """Build the gate that turns attention logits into weights.

    Any activation registered in mmcv works (``Sigmoid``, ``HSigmoid``,
    ``Tanh``, ...); it is built with :func:`mmcv.cnn.build_activation_layer`.

    Args:
        gate_cfg (dict, optional): The activation config.
            Defaults to None, meaning ``dict(type='Sigmoid')``.

    Returns:
        nn.Module: The gate.
    """
    if gate_cfg is None:
        gate_cfg = dict(type='Sigmoid')
    if not isinstance(gate_cfg, dict):
        raise TypeError(f'gate_cfg must be a dict such as dict(type=\'Sigmoid\'), '
                        f'got {type(gate_cfg).__name__} {gate_cfg!r}')
    if 'type' not in gate_cfg:
        raise KeyError(f'gate_cfg must contain the key "type", got {gate_cfg!r}')
    return build_activation_layer(dict(gate_cfg))


def check_input(block: nn.Module, x: Tensor, channels: Optional[int] = None) -> None:
    """Raise a clear error when a block receives features it was not built for.

    A wrong ``in_channels`` in a config otherwise surfaces as a convolution
    or matmul error deep inside the block that names neither the block nor
    the setting to fix. Two attribute reads per call: cheap enough for every
    forward.

    Args:
        block (nn.Module): The block; its class name goes into the message.
        x (Tensor): The input, expected ``(N, C, H, W)``.
        channels (int, optional): The expected ``C``. Defaults to None,
            meaning ``block.in_channels``.

    Raises:
        ValueError: If ``x`` is not 4-D or has another number of channels.
    """
    if channels is None:
        channels = block.in_channels
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f'{type(block).__name__} was built with in_channels={channels} and '
                         f'expects an (N, {channels}, H, W) input, got a tensor of shape '
                         f'{tuple(x.shape)}; set its in_channels to the channels of the features '
                         'it receives')


def check_pair(block: nn.Module, x: Tensor, y: Tensor, channels: Optional[int] = None) -> None:
    """Raise a clear error when two inputs of a fusion block do not match.

    Both must be ``(N, C, H, W)`` of the same shape, with ``C == channels``
    when ``channels`` is given.
    """
    if (x.dim() != 4 or y.dim() != 4 or x.shape != y.shape
            or (channels is not None and x.shape[1] != channels)):
        expected = f' with C = in_channels = {channels}' if channels is not None else ''
        raise ValueError(f'{type(block).__name__} expects two (N, C, H, W) inputs of the '
                         f'same shape{expected}, got {tuple(x.shape)} and {tuple(y.shape)}')
