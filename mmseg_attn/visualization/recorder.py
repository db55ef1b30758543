# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Capture the attention maps of every attention block of a model.

Only the blocks' public probe points are used (see
:mod:`mmseg_attn.models.layers`): a block is any module with an
``attention_kind`` class attribute, and

- a gated block (``attention_kind`` ``'channel'``, ``'spatial'``,
  ``'pixel'`` or ``'fusion'``) exposes ``gate``, the submodule whose output
  is its attention weights: a forward hook on it records them, exactly as
  the forward uses them;
- the Fully Attentional block (``'fla'``) exposes ``attention_probe``, which
  it calls with its column and row attentions ``(N, W, C, C)`` and
  ``(N, H, C, C)`` only while a hook is registered on it (its fused kernels
  never form them otherwise). They are summarised on the fly (per column and
  per row: how peaked the attention is; averaged over columns and over rows:
  the ``C x C`` matrices), so no ``W x C x C`` tensor is kept;
- a container (``attention_kind = None``, e.g. CBAM) is recorded through
  the blocks it is made of.

When a block's probe is the probe of a block inside it (SAR's gate is that
of its spatial attention, AFF's that of its MS-CAM), the outermost block
records it, with its own kind: the weights of an MS-CAM inside an AFF are
fusion weights.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = ['AttentionRecord', 'AttentionRecorder', 'attention_blocks', 'probe_of']

#: Kinds whose probe is a ``gate`` with weights ``(N, C, 1, 1)``, ``(N, 1, H, W)``
#: or ``(N, C, H, W)``.
GATED_KINDS = ('channel', 'spatial', 'pixel', 'fusion')


def probe_of(block: nn.Module) -> Optional[nn.Module]:
    """The probe submodule of an attention block.

    None for a container (``attention_kind = None``) and for a block that
    declares a kind without the matching probe.
    """
    kind = getattr(block, 'attention_kind', None)
    if kind == 'fla':
        return getattr(block, 'attention_probe', None)
    if kind in GATED_KINDS:
        return getattr(block, 'gate', None)
    return None


def attention_blocks(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(path, block)`` of every module of ``model`` that declares an ``attention_kind``."""
    return [(name, m) for name, m in model.named_modules()
            if hasattr(type(m), 'attention_kind')]


@dataclass
class AttentionRecord:
    """One attention map recorded during a forward.

    Attributes:
        name (str): Path of the recording block in the model.
        block_type (str): Class name of that block.
        containers (list[str]): ``'path (Type)'`` of the attention blocks
            that contain it, outermost first.
        kind (str): The block's ``attention_kind``: ``'channel'`` (weights
            ``(C,)``), ``'spatial'`` (map ``(H, W)``), ``'pixel'`` (weights
            ``(C, H, W)``), ``'fusion'`` (weights ``(C, H, W)`` of the first
            input of a fusion block) or ``'fla'`` (see :attr:`data`).
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


def _gate_data(kind: str, weights: torch.Tensor) -> np.ndarray:
    """The first image's weights in the layout of :attr:`AttentionRecord.data`."""
    data = weights.detach()[0].float().cpu().numpy()
    if kind == 'channel':
        return data.reshape(-1)
    if kind == 'spatial':
        return data[0]
    return data


def _fla_data(block: nn.Module, col: torch.Tensor, row: torch.Tensor) -> dict:
    """Summary of the first image's column ``(W, C, C)`` and row ``(H, C, C)`` attention."""
    out = {}
    for direction, attention in (('col', col), ('row', row)):
        first = attention.detach()[0].float()
        out[f'{direction}_focus'] = _focus(first).cpu().numpy()
        out[f'{direction}_attention'] = first.mean(0).cpu().numpy()
    out['gamma'] = float(block.gamma.detach().reshape(-1)[0])
    return out


class AttentionRecorder:
    """Context manager that records every attention map of a model's forwards.

    Example:
        >>> with AttentionRecorder(model) as recorder:
        ...     model(inputs, mode='tensor')
        >>> [r.label for r in recorder.records]

    Args:
        model (nn.Module): Any model containing attention blocks.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.records: List[AttentionRecord] = []
        self.blocks = attention_blocks(model)
        #: ``'path (Type)'`` of blocks that declare a kind but have no probe.
        self.unsupported: List[str] = []
        self._handles = []
        self._calls: Dict[str, int] = {}

    def _containers(self, name: str) -> List[str]:
        return [f'{n} ({type(m).__name__})' for n, m in self.blocks
                if n != name and name.startswith(n + '.')]

    def _add(self, name: str, block: nn.Module, data) -> None:
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        self.records.append(AttentionRecord(name, type(block).__name__, self._containers(name),
                                            block.attention_kind, data, call))

    def _hook(self, name: str, block: nn.Module):
        if block.attention_kind == 'fla':

            def hook(probe, args, output):
                self._add(name, block, _fla_data(block, *args))
        else:

            def hook(gate, args, output):
                self._add(name, block, _gate_data(block.attention_kind, output))

        return hook

    def __enter__(self) -> 'AttentionRecorder':
        seen = set()
        for name, block in self.blocks:  # outermost first (named_modules order)
            probe = probe_of(block)
            if probe is None and block.attention_kind is not None:
                self.unsupported.append(f'{name} ({type(block).__name__})')
            if probe is None or id(probe) in seen:
                continue
            seen.add(id(probe))
            self._handles.append(probe.register_forward_hook(self._hook(name, block)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def summary(self) -> List[dict]:
        """One dict per record: name, type, kind, containers, shape."""
        out = []
        for r in self.records:
            shape = list(np.shape(r.data)) if r.kind != 'fla' else [
                len(r.data['row_focus']), len(r.data['col_focus'])]
            out.append(dict(name=r.name, type=r.block_type, kind=r.kind, call=r.call,
                            containers=r.containers, shape=shape))
        return out
