# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Capture the attention maps of every attention block of a model.

Blocks are found by type: every class exported by
:mod:`mmseg_attn.models.layers` that is registered in ``MODELS``. What is
recorded is exactly what the forward uses, never a recomputation:

- blocks that gate their input (SE, CBAM's channel and spatial attention,
  pixel attention, MS-CAM, ARM, FFM) build their gate with the shared
  ``build_gate``; a forward hook on that gate submodule records its output.
  Its shape says what it is: ``(N, C, 1, 1)`` channel weights,
  ``(N, 1, H, W)`` a spatial map, ``(N, C, H, W)`` a weight per position and
  channel (pixel attention; the fusion weights of AFF and iAFF, whose
  MS-CAMs are recorded);
- container blocks (CBAM, SAR, AFF, iAFF) are recorded through the blocks
  they are made of, and each record names its containers;
- the Fully Attentional block of FLANet has no gate: its per-column and
  per-row ``C x C`` softmax attentions are recorded as they are computed and
  summarised on the fly (per column and per row: how peaked the attention
  is; averaged over columns and over rows: the ``C x C`` matrices), so no
  ``W x C x C`` tensor is kept.
"""
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmseg.registry import MODELS

from mmseg_attn.models import layers

__all__ = ['AttentionRecord', 'AttentionRecorder', 'attention_block_types', 'GATES']

#: How to find the gate submodule of each gated block type.
GATES: Dict[str, Callable[[nn.Module], nn.Module]] = {
    'SqueezeExcitation': lambda m: m.gate,
    'ChannelAttention': lambda m: m.gate,
    'SpatialAttention': lambda m: m.gate,
    'PixelAttention': lambda m: m.gate,
    'MSCAM': lambda m: m.gate,
    'AttentionRefinementModule': lambda m: m.atten_conv_layer[-1],
    'FeatureFusionModule': lambda m: m.conv_atten[-1],
}

#: Fusion blocks: the MS-CAM weights inside them are fusion weights.
FUSION_TYPES = ('AFF', 'iAFF')


def attention_block_types() -> Tuple[type, ...]:
    """The registered block classes of :mod:`mmseg_attn.models.layers`."""
    types = []
    for name in layers.__all__:
        obj = getattr(layers, name)
        if inspect.isclass(obj) and issubclass(obj, nn.Module) and MODELS.get(name) is obj:
            types.append(obj)
    return tuple(types)


@dataclass
class AttentionRecord:
    """One attention map recorded during a forward.

    Attributes:
        name (str): Path of the recording block in the model.
        block_type (str): Class name of that block.
        containers (list[str]): ``'path (Type)'`` of the attention blocks
            that contain it, outermost first.
        kind (str): ``'channel'`` (weights ``(C,)``), ``'spatial'`` (map
            ``(H, W)``), ``'pixel'`` (weights ``(C, H, W)``), ``'fusion'``
            (weights ``(C, H, W)`` of the first input of AFF/iAFF) or
            ``'fla'`` (see :attr:`data`).
        data: For the first image of the batch: a float32 array, or for
            ``'fla'`` a dict with ``col_focus (W,)``, ``row_focus (H,)``,
            ``col_attention (C, C)``, ``row_attention (C, C)`` and ``gamma``.
        call (int): Index of the call when the block runs more than once.
    """

    name: str
    block_type: str
    containers: List[str]
    kind: str
    data: object
    call: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        inside = f' in {self.containers[-1]}' if self.containers else ''
        call = f' (call {self.call})' if self.call else ''
        return f'{self.name} ({self.block_type}){inside}{call}'


def _kind_of(shape: torch.Size) -> str:
    if len(shape) != 4:
        raise ValueError(f'expected an (N, C, H, W) attention map, got {tuple(shape)}')
    if shape[2:] == (1, 1):
        return 'channel'
    if shape[1] == 1:
        return 'spatial'
    return 'pixel'


def _focus(attention: torch.Tensor) -> torch.Tensor:
    """``1 - entropy / log(C)`` of each softmax row, averaged over rows.

    Args:
        attention (Tensor): ``(L, C, C)`` softmax over the last axis.

    Returns:
        Tensor: ``(L,)``; 0 for uniform attention, 1 for one-hot.
    """
    c = attention.shape[-1]
    p = attention.float().clamp_min(1e-12)
    entropy = -(p * p.log()).sum(-1).mean(-1)
    return 1 - entropy / math.log(c) if c > 1 else torch.ones_like(entropy)


class _FLAProbe:
    """Record the softmax attentions of one FullyAttentionalBlock call."""

    def __init__(self, block: nn.Module):
        self.block = block
        self.original = block._softmax
        self.height = self.width = 0
        self.seen = 0
        self.parts = {'col': [], 'row': []}
        self.sums = {'col': None, 'row': None}

    def start(self, x: torch.Tensor) -> None:
        self.height, self.width = x.shape[2:]
        self.batch = x.shape[0]
        self.seen = 0
        self.parts = {'col': [], 'row': []}
        self.sums = {'col': None, 'row': None}

    def softmax(self, energy: torch.Tensor) -> torch.Tensor:
        attention = self.original(energy)
        n = self.batch
        slices = attention.detach().view(n, -1, *attention.shape[-2:])[0]  # first image
        direction = 'col' if self.seen < self.width else 'row'
        self.seen += slices.shape[0]
        self.parts[direction].append(_focus(slices).cpu())
        total = slices.float().sum(0).cpu()
        self.sums[direction] = total if self.sums[direction] is None \
            else self.sums[direction] + total
        return attention

    def result(self) -> dict:
        out = {}
        for direction, length in (('col', self.width), ('row', self.height)):
            focus = torch.cat(self.parts[direction]) if self.parts[direction] else torch.zeros(0)
            out[f'{direction}_focus'] = focus.numpy()
            mean = self.sums[direction] / max(length, 1) if self.sums[direction] is not None \
                else torch.zeros(0, 0)
            out[f'{direction}_attention'] = mean.numpy()
        out['gamma'] = float(self.block.gamma.detach().reshape(-1)[0])
        return out


class AttentionRecorder:
    """Context manager that records every attention map of a model's forwards.

    Example:
        >>> with AttentionRecorder(model) as recorder:
        ...     model(inputs, mode='tensor')
        >>> [r.label for r in recorder.records]

    Args:
        model (nn.Module): Any model containing mmseg_attn blocks.
        types (tuple[type], optional): Block classes to look for.
            Defaults to None, meaning :func:`attention_block_types`.
    """

    def __init__(self, model: nn.Module, types: Optional[Tuple[type, ...]] = None):
        self.model = model
        self.types = types or attention_block_types()
        self.records: List[AttentionRecord] = []
        self._handles = []
        self._probes = []
        self._calls: Dict[str, int] = {}
        self.blocks = [(name, m) for name, m in model.named_modules()
                       if isinstance(m, self.types)]
        self.unsupported = []

    def _containers(self, name: str) -> List[str]:
        return [f'{n} ({type(m).__name__})' for n, m in self.blocks
                if n != name and name.startswith(n + '.')]

    def _add(self, name: str, block: nn.Module, kind: str, data) -> None:
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        self.records.append(AttentionRecord(name, type(block).__name__,
                                            self._containers(name), kind, data, call))

    def _gate_hook(self, name: str, block: nn.Module):
        containers = [m for n, m in self.blocks if n != name and name.startswith(n + '.')]
        in_fusion = bool(containers) and type(containers[-1]).__name__ in FUSION_TYPES

        def hook(module, args, output):
            kind = _kind_of(output.shape)
            if kind == 'pixel' and in_fusion:
                kind = 'fusion'
            data = output.detach()[0].float().cpu().numpy()
            if kind == 'channel':
                data = data.reshape(-1)
            elif kind == 'spatial':
                data = data[0]
            self._add(name, block, kind, data)

        return hook

    def __enter__(self) -> 'AttentionRecorder':
        for name, block in self.blocks:
            type_name = type(block).__name__
            if type_name in GATES:
                gate = GATES[type_name](block)
                self._handles.append(gate.register_forward_hook(self._gate_hook(name, block)))
            elif type_name == 'FullyAttentionalBlock':
                self._add_fla(name, block)
            elif not any(n.startswith(name + '.') for n, _ in self.blocks):
                self.unsupported.append(f'{name} ({type_name})')
        return self

    def _add_fla(self, name: str, block: nn.Module) -> None:
        probe = _FLAProbe(block)
        block._softmax = probe.softmax  # instance attribute shadows the staticmethod
        self._probes.append(probe)
        self._handles.append(block.register_forward_pre_hook(
            lambda module, args: probe.start(args[0])))
        self._handles.append(block.register_forward_hook(
            lambda module, args, output: self._add(name, block, 'fla', probe.result())))

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        for probe in self._probes:
            del probe.block._softmax
        self._handles, self._probes = [], []

    def summary(self) -> List[dict]:
        """One dict per record: name, type, kind, containers, shape."""
        out = []
        for r in self.records:
            shape = list(np.shape(r.data)) if r.kind != 'fla' else [
                len(r.data['row_focus']), len(r.data['col_focus'])]
            out.append(dict(name=r.name, type=r.block_type, kind=r.kind, call=r.call,
                            containers=r.containers, shape=shape))
        return out
