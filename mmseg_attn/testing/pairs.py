# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Each attention block next to its reference code, with the same weights.

:data:`BLOCK_PAIRS` names, for every block, the config of the block that
reproduces the reference (``in_channels`` left out), the reference factory
(defects fixed, so that both compute the same function), the number of
inputs and a fix-up applied after :func:`~.weights.copy_weights`.
:func:`make_pair` builds both, :func:`make_inputs` random inputs, and
:func:`make_step` / :func:`pair_step` the inference or training step that
the benchmarks time and measure.
"""
import functools
import inspect
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from .aff import RefAFF, RefIAFF, RefMSCAM
from .bisenet import RefARM, RefAttentionout, RefFFM, RefSAR
from .fla import FLAReference
from .se_cbam import RefCBAM, RefSELayer, flip_mean_max
from .weights import copy_weights

__all__ = [
    'BLOCK_PAIRS', 'BlockPair', 'block_accepts', 'make_inputs', 'make_pair', 'make_step',
    'pair_step'
]


class BlockPair(NamedTuple):
    """A block config, its reference factory ``(channels) -> module``, inputs, fix-up."""

    cfg: dict
    reference: Callable[[int], nn.Module]
    num_inputs: int
    fixup: Optional[Callable[[nn.Module, nn.Module], None]] = None


def _fla_reference(channels: int) -> nn.Module:
    return FLAReference(channels, fix_batch=True)


def _set_gamma(block: nn.Module, ref: nn.Module) -> None:
    # gamma starts at 0, which would hide the attention
    block.gamma.fill_(0.5)
    ref.gamma.fill_(0.5)


BLOCK_PAIRS: Dict[str, BlockPair] = {
    'SqueezeExcitation': BlockPair(dict(ratio=16, bias=False), lambda c: RefSELayer(c, 16), 1),
    'CBAM': BlockPair(dict(ratio=16, norm_cfg=dict(type='BN', momentum=0.01)),
                      lambda c: RefCBAM(c, 16), 1,
                      lambda block, ref: flip_mean_max(block.spatial_attention)),
    'AttentionRefinementModule': BlockPair(dict(), lambda c: RefARM(c, c), 1),
    'PixelAttention': BlockPair(dict(), lambda c: RefAttentionout(c), 1),
    'SpatialAttentionRefinement': BlockPair(dict(mid_channels=64), lambda c: RefSAR(c, 64), 1),
    'MSCAM': BlockPair(dict(ratio=4), lambda c: RefMSCAM(c, 4), 1),
    'FeatureFusionModule': BlockPair(dict(), lambda c: RefFFM(c, c), 2),
    'AFF': BlockPair(dict(ratio=4), lambda c: RefAFF(c, 4), 2),
    'iAFF': BlockPair(dict(ratio=4), lambda c: RefIAFF(c, 4, fix_global_att2=True), 2),
    'FullyAttentionalBlock': BlockPair(dict(), _fla_reference, 1, _set_gamma),
}


def _check_name(name: str) -> BlockPair:
    if name not in BLOCK_PAIRS:
        raise ValueError(f'name must be one of {list(BLOCK_PAIRS)}, got {name!r}')
    return BLOCK_PAIRS[name]


def block_accepts(name: str, argument: str) -> bool:
    """Whether the registered block ``name`` takes the keyword ``argument``."""
    cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f'{name!r} is not registered in mmseg MODELS (import mmseg_attn)')
    return argument in inspect.signature(cls).parameters


def make_pair(name: str, channels: int, device: Union[str, torch.device] = 'cpu',
              seed: int = 0, **block_kwargs) -> Tuple[nn.Module, nn.Module]:
    """The block ``name`` and its reference, with the same weights.

    Args:
        name (str): A key of :data:`BLOCK_PAIRS`.
        channels (int): ``in_channels`` of the block.
        device (str | torch.device): Defaults to 'cpu'.
        seed (int): Seed of the initial weights. Defaults to 0.
        **block_kwargs: More arguments of the block (e.g. ``impl``).

    Returns:
        tuple: ``(block, reference)`` in eval mode.
    """
    pair = _check_name(name)
    torch.manual_seed(seed)
    ours = MODELS.build(dict(type=name, in_channels=channels, **pair.cfg, **block_kwargs))
    ref = pair.reference(channels)
    copy_weights(ref, ours, seed=seed)
    if pair.fixup is not None:
        with torch.no_grad():
            pair.fixup(ours, ref)
    return ours.to(device).eval(), ref.to(device).eval()


def make_inputs(name: str, shape: Sequence[int], device: Union[str, torch.device] = 'cpu',
                seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Random inputs of the block ``name`` for ``shape = (N, C, H, W)``.

    Two-input blocks get two tensors; for ``FeatureFusionModule``, whose
    ``in_channels`` is the concatenation, they split ``C``.
    """
    n, c, h, w = shape
    generator = torch.Generator().manual_seed(seed)

    def randn(channels):
        return torch.randn(n, channels, h, w, generator=generator).to(device)

    if _check_name(name).num_inputs == 1:
        return (randn(c), )
    if name == 'FeatureFusionModule':
        return randn(c // 2), randn(c - c // 2)
    return randn(c), randn(c)


def _infer(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> None:
    with torch.no_grad():
        module(*inputs)


def _train_step(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> None:
    module.zero_grad(set_to_none=True)
    module(*inputs).float().square().mean().backward()
    module.zero_grad(set_to_none=True)
    for tensor in inputs:
        tensor.grad = None


def make_step(module: nn.Module,
              inputs: Tuple[torch.Tensor, ...],
              mode: str,
              input_grad: bool = False) -> Callable[[], None]:
    """A zero-argument step: ``'fwd'`` (eval, no grad) or ``'train'``.

    ``'train'`` puts the module in train mode and runs forward and backward
    of ``out.float().square().mean()``; ``'fwd'`` puts it in eval mode.
    With ``input_grad``, the training step also computes the gradients of
    the inputs, as for a block inside a network (by default only those of
    the parameters).
    """
    if mode not in ('fwd', 'train'):
        raise ValueError(f"mode must be 'fwd' or 'train', got {mode!r}")
    module.train(mode == 'train')
    if mode == 'fwd':
        return functools.partial(_infer, module, inputs)
    if input_grad:
        inputs = tuple(tensor.detach().requires_grad_() for tensor in inputs)
    return functools.partial(_train_step, module, inputs)


def pair_step(name: str, shape: Sequence[int], side: str, mode: str,
              device: Union[str, torch.device] = 'cpu',
              block_kwargs: Optional[dict] = None,
              input_grad: bool = False) -> Callable[[], None]:
    """Build a pair and return the step of one side (for fresh-process memory).

    Args:
        name (str): A key of :data:`BLOCK_PAIRS`.
        shape (Sequence[int]): ``(N, C, H, W)``.
        side (str): ``'ours'`` or ``'ref'``.
        mode (str): ``'fwd'`` or ``'train'``.
        device (str | torch.device): Defaults to 'cpu'.
        block_kwargs (dict, optional): More arguments of the block.
        input_grad (bool): See :func:`make_step`. Defaults to False.
    """
    if side not in ('ours', 'ref'):
        raise ValueError(f"side must be 'ours' or 'ref', got {side!r}")
    ours, ref = make_pair(name, shape[1], device, **(block_kwargs or {}))
    module = ours if side == 'ours' else ref
    del ours, ref
    return make_step(module, make_inputs(name, shape, device), mode, input_grad)
