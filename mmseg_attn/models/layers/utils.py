# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Helpers shared by every attention block, head, neck and backbone of the
package: widths, gates, the point-wise bottleneck, argument and input checks,
upsampling."""
import math
import numbers
from typing import Optional, Sequence, Tuple, Union

import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer
from mmseg.utils import OptConfigType
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

#: Interpolation modes accepted wherever a head or neck upsamples features.
UPSAMPLE_MODES = ('nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area')
#: The modes among them that take ``align_corners``.
ALIGNED_MODES = ('bilinear', 'bicubic')


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


def check_int(value, name: str, minimum: Optional[int] = 1) -> int:
    """Check that ``value`` is an int (not a bool) ``>= minimum`` and return it.

    ``minimum=None`` accepts any int (e.g. an index that may be negative).

    Raises:
        TypeError: If ``value`` is not an int.
        ValueError: If ``value`` is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {type(value).__name__} {value!r}')
    if minimum is not None and value < minimum:
        expected = 'a positive int' if minimum == 1 else f'an int >= {minimum}'
        raise ValueError(f'{name} must be {expected}, got {value}')
    return int(value)


def check_channels(value, name: str = 'in_channels') -> int:
    """Check that ``value`` is a positive int (a channel count) and return it.

    Raises:
        TypeError: If ``value`` is not an int (``True`` is refused).
        ValueError: If ``value`` is not positive.
    """
    return check_int(value, name, minimum=1)


def check_int_sequence(value, name: str, lengths: Optional[Sequence[int]] = None,
                       minimum: Optional[int] = 1) -> Tuple[int, ...]:
    """Check a list or tuple of ints ``>= minimum`` (of one of ``lengths``).

    Returns:
        tuple[int]: The values.
    """
    if not isinstance(value, (list, tuple)) or (lengths is not None
                                                 and len(value) not in lengths):
        count = '' if lengths is None else ' of ' + ' or '.join(map(str, lengths))
        raise ValueError(f'{name} must be a list or tuple{count} ints, got {value!r}')
    return tuple(check_int(v, f'{name}[{i}]', minimum) for i, v in enumerate(value))


def check_ratio(value, name: str = 'ratio') -> float:
    """Check that a reduction ratio is a finite positive number and return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {type(value).__name__} {value!r}')
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be a finite positive number (the reduced width is '
                         f'in_channels / {name}), got {value}')
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
    check_int(value, name, minimum=1)
    if value % 2 == 0:
        raise ValueError(f'{name} must be a positive odd int so that the map keeps its '
                         f'size, got {value}')
    return int(value)


def check_choice(value, choices: Sequence, name: str):
    """Check that ``value`` is one of ``choices`` and return it."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def check_cfg(value, name: str) -> Optional[dict]:
    """Check that an optional config argument is a dict (or None) and return it."""
    if value is not None and not isinstance(value, dict):
        raise TypeError(f'{name} must be a dict or None, got {type(value).__name__} {value!r}')
    return value


def upsample(x: Tensor,
             size: Optional[Sequence[int]] = None,
             scale_factor: Optional[float] = None,
             mode: str = 'nearest',
             align_corners: bool = False) -> Tensor:
    """Interpolate ``x`` with one of :data:`UPSAMPLE_MODES`.

    ``align_corners`` is passed only to the modes that take it
    (:data:`ALIGNED_MODES`), so every mode works with one setting.
    """
    return F.interpolate(
        x,
        size=None if size is None else tuple(size),
        scale_factor=scale_factor,
        mode=mode,
        align_corners=align_corners if mode in ALIGNED_MODES else None)


def pointwise_bottleneck(in_channels: int,
                         mid_channels: int,
                         bias: Union[bool, str] = 'auto',
                         conv_cfg: OptConfigType = None,
                         norm_cfg: OptConfigType = None,
                         act_cfg: OptConfigType = dict(type='ReLU')
                         ) -> Tuple[ConvModule, ConvModule]:
    """The point-wise bottleneck ``C -> C_r -> C`` of SE, CBAM, MS-CAM and FFM.

    Two 1x1 :class:`~mmcv.cnn.ConvModule`: ``in_channels -> mid_channels``
    with ``norm_cfg`` and ``act_cfg``, then ``mid_channels -> in_channels``
    with ``norm_cfg`` and no activation (the gate follows). Returned as a
    pair so that each block keeps its own (checkpoint-compatible) names.
    """
    reduce = ConvModule(
        in_channels,
        mid_channels,
        1,
        bias=bias,
        conv_cfg=conv_cfg,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg)
    expand = ConvModule(
        mid_channels,
        in_channels,
        1,
        bias=bias,
        conv_cfg=conv_cfg,
        norm_cfg=norm_cfg,
        act_cfg=None)
    return reduce, expand


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


def _needs_batch_statistics(norm: nn.Module) -> bool:
    """Whether a norm layer normalises with statistics of the current batch."""
    if not isinstance(norm, _BatchNorm) or not norm.training:
        return False
    if isinstance(norm, nn.SyncBatchNorm) and dist.is_available() and dist.is_initialized():
        return dist.get_world_size() == 1  # SyncBN pools the batches of every rank
    return True


def check_pooled_batch(block: nn.Module, x: Tensor, pooled: nn.Module) -> None:
    """Raise a clear error when a norm on a pooled map would see one value.

    Blocks that normalise a globally pooled ``(N, C, 1, 1)`` map with batch
    normalisation (SE or CBAM with a norm, ARM, FFM with ``attn_norm``,
    MS-CAM, AFF, iAFF) have a single value per channel to normalise when
    they are trained on one sample per device; torch then fails with a bare
    "Expected more than 1 value per channel". This check names the block
    and the settings to change. It costs nothing unless ``N == 1``.

    Args:
        block (nn.Module): The block; its class name goes into the message.
        x (Tensor): The block's input ``(N, C, H, W)``.
        pooled (nn.Module): The part of the block that sees the pooled map.
    """
    if x.shape[0] != 1 or not block.training:
        return
    if any(_needs_batch_statistics(m) for m in pooled.modules()):
        raise ValueError(
            f'{type(block).__name__} normalises a globally pooled (N, C, 1, 1) map with batch '
            f'norm, which needs more than one sample per device in training; got an input of '
            f'shape {tuple(x.shape)}. Train with at least 2 samples per device '
            '(train_dataloader.batch_size), use SyncBN across several devices, or give the '
            "block a norm that works on one sample (e.g. norm_cfg=dict(type='GN', "
            'num_groups=...)) or none where the block allows it.')
