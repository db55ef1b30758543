# Copyright (c) mmseg_attn contributors. All rights reserved.
"""FLOPs per module, with one convention: 1 multiply-add = 2 FLOPs.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`,
which sees every aten matrix product the model runs: convolutions, ``mm`` /
``addmm`` (``nn.Linear``), ``bmm`` / ``baddbmm`` (``torch.matmul`` and
``torch.einsum`` lower to them) and scaled dot-product attention (its CPU
flash kernel too, whose formula torch lacks and this module adds). That
matters for FLANet, whose Fully Attentional block costs nothing but matrix
products. One multiply-add counts as **2 FLOPs** (torch's convention) in
every figure and table of mmseg_attn; where multiply-adds are shown they are
labelled MACs (``MACs = FLOPs / 2``, the number mmseg's ``get_flops.py``,
through mmengine's fvcore-style analysis, prints as "Flops"). Element-wise
operations, norms, pooling and interpolation are not counted.
"""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    'FLOPS_CONVENTION', 'ModuleCost', 'costs_as_dicts', 'count_flops', 'format_cost_table',
    'format_count', 'module_costs'
]

#: The convention, as every printed table names it.
FLOPS_CONVENTION = '1 multiply-add = 2 FLOPs'

#: aten ops counted as convolution / matrix product in the table's columns.
CONV_OPS = ('convolution', '_convolution', 'convolution_backward')
MATMUL_OPS = ('mm', 'addmm', 'bmm', 'baddbmm', '_scaled_dot_product_efficient_attention',
              '_scaled_dot_product_flash_attention', '_scaled_dot_product_cudnn_attention',
              '_scaled_dot_product_fused_attention_overrideable',
              '_scaled_dot_product_flash_attention_for_cpu',
              '_scaled_dot_product_efficient_attention_backward',
              '_scaled_dot_product_flash_attention_backward',
              '_scaled_dot_product_cudnn_attention_backward',
              '_scaled_dot_product_flash_attention_for_cpu_backward')


def _cpu_flash_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args,
                             out_shape=None, **kwargs):
    return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                                 value_shape)


#: Formulas FlopCounterMode lacks: the CPU flash-attention kernel of
#: ``scaled_dot_product_attention`` (the same count as its CUDA kernels).
_EXTRA_FORMULAS = {
    getattr(torch.ops.aten, name): formula
    for name, formula in (('_scaled_dot_product_flash_attention_for_cpu', _cpu_flash_flop),
                          ('_scaled_dot_product_flash_attention_for_cpu_backward',
                           _cpu_flash_backward_flop))
    if hasattr(torch.ops.aten, name)
}


def count_flops(model: nn.Module, inputs: torch.Tensor,
                mode: Optional[str] = 'tensor') -> Dict[str, Dict[str, int]]:
    """FLOPs of one forward, per module (inclusive) and per aten op.

    FlopCounterMode only sees modules that are *called*; a segmentor calls
    ``self.decode_head.forward(x)`` directly, for instance, so the head
    itself is invisible while its submodules are seen. The counts are
    therefore rebuilt from the module tree: each op is attributed to the
    innermost called module that ran it, and a module's count is the sum
    over itself and all its descendants.

    Args:
        model (nn.Module): The segmentor.
        inputs (Tensor): Its input ``(N, C, H, W)`` (may live on the
            ``meta`` device: nothing is computed then, only counted); with
            ``mode=None`` any single argument of ``model`` (e.g. the list of
            feature maps of a decode head).
        mode (str, optional): The segmentor's forward mode; None calls
            ``model(inputs)`` (any module). Defaults to 'tensor' (backbone,
            neck and decode head without resizing, as mmseg's
            ``get_flops.py``).

    Returns:
        dict: ``{module path: {op name: FLOPs}}`` for every module of
        ``model.named_modules()`` that ran counted ops; ``''`` is the whole
        model.
    """
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter, torch.no_grad():
        if mode is None:
            model(inputs)
        else:
            model(inputs, mode=mode)
    root = type(model).__name__
    inclusive = {}
    for name, ops in counter.get_flop_counts().items():
        if name == 'Global':
            path = ''
        elif name == root:
            continue
        elif name.startswith(root + '.'):
            path = name[len(root) + 1:]
        else:
            continue
        inclusive[path] = {_op_name(op): int(v) for op, v in ops.items()}

    def parent(path):
        while path:
            path = path.rpartition('.')[0]
            if path in inclusive:
                return path
        return None

    exclusive = {p: dict(ops) for p, ops in inclusive.items()}
    for path, ops in inclusive.items():
        if path == '':
            continue
        owner = exclusive[parent(path)]
        for op, v in ops.items():
            owner[op] = owner.get(op, 0) - v
    counts = {'': {}}
    for path, ops in exclusive.items():
        parts = path.split('.') if path else []
        for i in range(len(parts) + 1):
            total = counts.setdefault('.'.join(parts[:i]), {})
            for op, v in ops.items():
                total[op] = total.get(op, 0) + v
    return {p: {op: v for op, v in ops.items() if v} for p, ops in counts.items()}


def _op_name(op) -> str:
    """``aten.convolution.default`` / packet -> ``'convolution'``."""
    name = getattr(op, '__name__', None)
    if name:
        return name.split('.')[0]
    parts = str(op).split('.')
    return parts[1] if len(parts) > 1 else parts[0]


@dataclass
class ModuleCost:
    """Parameters and FLOPs of one module (FLOPs = 2 x multiply-adds)."""

    name: str
    type: str
    depth: int
    params: int
    flops: int
    conv_flops: int
    matmul_flops: int


def _split(ops: Dict[str, int]) -> Tuple[int, int, int]:
    total = sum(ops.values())
    conv = sum(v for k, v in ops.items() if k in CONV_OPS)
    matmul = sum(v for k, v in ops.items() if k in MATMUL_OPS)
    return total, conv, matmul


def module_costs(model: nn.Module, inputs: torch.Tensor, max_depth: Optional[int] = None,
                 mode: Optional[str] = 'tensor') -> List[ModuleCost]:
    """One row per module (in ``named_modules`` order) down to ``max_depth``.

    Modules without parameters and without counted FLOPs are left out; the
    first row is always the whole model (depth 0).

    Args:
        model (nn.Module): The segmentor.
        inputs (Tensor): Its input.
        max_depth (int, optional): Deepest level shown (``backbone`` is 1,
            ``backbone.layer1`` 2, ...). Defaults to None, meaning all.
        mode (str, optional): The forward mode, see :func:`count_flops`.
            Defaults to 'tensor'.
    """
    counts = count_flops(model, inputs, mode)
    rows = []
    for name, module in model.named_modules():
        depth = 0 if name == '' else name.count('.') + 1
        if max_depth is not None and depth > max_depth:
            continue
        flops, conv, matmul = _split(counts.get(name, {}))
        params = sum(p.numel() for p in module.parameters())
        if name and not params and not flops:
            continue
        rows.append(ModuleCost(name or '(model)', type(module).__name__, depth, params, flops,
                               conv, matmul))
    return rows


def format_count(value: float, unit: str = '') -> str:
    """``1234567 -> '1.235M'`` (K, M, G, T)."""
    for suffix, scale in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(value) >= scale:
            return f'{value / scale:.3f}{suffix}{unit}'
    return f'{value:.0f}{unit}'


def format_cost_table(rows: List[ModuleCost]) -> str:
    """A Markdown table of :func:`module_costs` rows (names indented by depth).

    A last line below the table names the unit (:data:`FLOPS_CONVENTION`).
    """
    header = ('module', 'type', '#params', 'FLOPs', 'conv FLOPs', 'matmul FLOPs', '% FLOPs')
    total = rows[0].flops or 1
    lines = []
    for r in rows:
        lines.append(('  ' * r.depth + r.name, r.type, format_count(r.params),
                      format_count(r.flops), format_count(r.conv_flops),
                      format_count(r.matmul_flops), f'{100 * r.flops / total:.1f}'))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]

    def fmt(cells):
        return '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(cells, widths)) + ' |'

    out = [fmt(header), '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    out += [fmt(line) for line in lines]
    out += ['', f'FLOPs: {FLOPS_CONVENTION} (MACs = FLOPs / 2); K, M, G, T = 1e3 ... 1e12.']
    return '\n'.join(out)


def costs_as_dicts(rows: List[ModuleCost]) -> List[dict]:
    """The rows as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]
