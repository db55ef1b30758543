# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The frame of the one-input gated blocks: ``y = x * M(x)``."""
from mmengine.model import BaseModule
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .utils import build_gate, check_channels, check_input

__all__ = ['GatedAttention']


class GatedAttention(BaseModule):
    """A one-input attention block that scales its input by an attention map.

    ``forward(x) = x * attention_map(x)``, with ``(N, C, H, W)`` in and out;
    the map ends in :attr:`gate` (the probe point of the block, built from
    ``gate_cfg`` with mmcv's ``build_activation_layer``). A subclass builds
    its layers after calling this ``__init__`` and defines
    :meth:`attention_map` (``(N, C, 1, 1)``, ``(N, 1, H, W)`` or
    ``(N, C, H, W)``: it broadcasts).

    Args:
        in_channels (int): Channels of the input (and output).
        gate_cfg (dict, optional): Gate activation; None where a subclass
            takes its gate from a part (the gate is then its property).
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    num_inputs = 1

    def __init__(self, in_channels: int, gate_cfg: OptConfigType,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_channels(in_channels)
        if gate_cfg is not None:
            self.gate = build_gate(gate_cfg)

    def attention_map(self, x: Tensor) -> Tensor:
        """The weights that scale ``x``, ending in :attr:`gate`."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Forward function: ``(N, C, H, W) -> (N, C, H, W)``."""
        check_input(self, x)
        return x * self.attention_map(x)
