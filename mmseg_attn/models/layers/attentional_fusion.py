# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attentional Feature Fusion (Dai et al., WACV 2021, arXiv 2009.14082):
MS-CAM, AFF and iAFF."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from .base import GatedAttention
from .utils import (
    check_channels,
    check_pair,
    check_pooled_batch,
    pointwise_bottleneck,
    reduced_channels,
)


@MODELS.register_module()
class MSCAM(GatedAttention):
    """Multi-Scale Channel Attention Module (MS-CAM).

    This block is the MS-CAM of `Attentional Feature Fusion
    <https://arxiv.org/abs/2009.14082>`_.

    .. math::

        L(x) = \\mathrm{BN}(W_2\\,\\delta(\\mathrm{BN}(W_1 x))), \\quad
        G(x) = L'(\\mathrm{avg}(x)), \\quad
        M(x) = \\mathrm{gate}(L(x) + G(x)), \\quad y = x \\odot M(x)

    ``L`` (local) and ``L'`` (global, on the pooled map) are two point-wise
    bottlenecks ``C -> C_r -> C`` with their own weights. Shapes: ``x`` and
    ``y`` are ``(N, C, H, W)``, ``L(x)`` and ``M(x)`` are ``(N, C, H, W)``,
    ``G(x)`` is ``(N, C, 1, 1)``.

    Deliberate departures: the reference convs keep a bias in front of each
    BN, where it is redundant; here a conv has a bias only without a norm.
    The reduced width is ``make_divisible(C / ratio, divisor)`` (never zero)
    instead of ``int(C // r)``. The global norm sees a ``(N, C, 1, 1)`` map:
    training with BN needs ``N > 1`` (as in the reference; the block says
    so instead of torch's bare error).

    Probe point: ``gate``, whose output is ``M(x)`` (``attention_kind =
    'pixel'``).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio ``r``. Defaults to 4.
        divisor (int): The reduced width is a multiple of it. Defaults to 1.
        mid_channels (int, optional): Explicit reduced width; overrides
            ``ratio``. Defaults to None.
        conv_cfg (dict, optional): Config of the convs. Defaults to None.
        norm_cfg (dict): Norm after each conv. Defaults to dict(type='BN').
        act_cfg (dict): Activation inside the bottlenecks.
            Defaults to dict(type='ReLU').
        gate_cfg (dict): Gate activation. Defaults to dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    _abbr_ = 'mscam'
    attention_kind = 'pixel'

    def __init__(self,
                 in_channels: int,
                 ratio: float = 4,
                 divisor: int = 1,
                 mid_channels: Optional[int] = None,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 gate_cfg: OptConfigType = dict(type='Sigmoid'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(in_channels, gate_cfg, init_cfg)
        self.mid_channels = reduced_channels(in_channels, ratio, divisor, mid_channels)
        bottleneck = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.local_att = nn.Sequential(
            *pointwise_bottleneck(in_channels, self.mid_channels, **bottleneck))
        self.global_att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            *pointwise_bottleneck(in_channels, self.mid_channels, **bottleneck))

    def attention_map(self, x: Tensor) -> Tensor:
        """Fusion weights ``M(x)`` of shape ``(N, C, H, W)``."""
        check_pooled_batch(self, x, self.global_att)
        return self.gate(self.local_att(x) + self.global_att(x))


@MODELS.register_module()
class AFF(BaseModule):
    """Attentional Feature Fusion (AFF).

    This block is the AFF of `Attentional Feature Fusion
    <https://arxiv.org/abs/2009.14082>`_: an :class:`MSCAM` on the initial
    integration of the inputs picks, per position and channel, how much of
    each to keep.

    .. math::

        w = M(x \\uplus y), \\qquad z = x \\odot w + y \\odot (1 - w)

    with the initial integration ``x ⊎ y = x + y``. ``x`` is the first input
    (in the paper ``X``, e.g. the identity / lower-level features of a skip
    connection) and ``y`` the second (``Y``, the features with the larger
    receptive field, e.g. the residual branch or the upsampled high-level
    map). Shapes: ``x``, ``y``, ``w`` and ``z`` are ``(N, C, H, W)``.

    Deliberate departures: those of :class:`MSCAM`.

    Probe point: ``gate`` (that of its MS-CAM ``attention``), whose output
    is ``w``, the weight of the first input (``attention_kind =
    'fusion'``); ``num_inputs = 2``.

    Args:
        in_channels (int): Channels of each input (and the output).
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
        **mscam_cfg: The arguments of the MS-CAM(s) (:class:`MSCAM`:
            ``ratio`` 4, ``divisor``, ``mid_channels``, ``conv_cfg``,
            ``norm_cfg`` BN, ``act_cfg`` ReLU, ``gate_cfg`` Sigmoid).
    """

    _abbr_ = 'aff'
    attention_kind = 'fusion'
    num_inputs = 2

    def __init__(self, in_channels: int, init_cfg: OptMultiConfig = None, **mscam_cfg):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_channels(in_channels)
        self.mscam_cfg = mscam_cfg
        self.attention = MSCAM(in_channels, **mscam_cfg)

    @property
    def gate(self) -> nn.Module:
        """The gate, whose output is the weight ``w`` of the first input."""
        return self.attention.gate

    def integrate(self, x: Tensor, y: Tensor) -> Tensor:
        """The initial integration ``x ⊎ y``: the sum."""
        return x + y

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Fuse ``x`` (first, ``X``) and ``y`` (second, ``Y``), both
        ``(N, C, H, W)``, into ``(N, C, H, W)``."""
        check_pair(self, x, y, self.in_channels)
        check_pooled_batch(self, x, self)
        w = self.attention.attention_map(self.integrate(x, y))
        return x * w + y * (1 - w)


@MODELS.register_module()
class iAFF(AFF):  # noqa: N801  (the paper's name)
    """Iterative Attentional Feature Fusion (iAFF).

    This block is the iAFF of `Attentional Feature Fusion
    <https://arxiv.org/abs/2009.14082>`_: an :class:`AFF` whose initial
    integration ``x + y`` is itself an :class:`AFF`.

    .. math::

        x \\uplus y = x \\odot M_1(x + y) + y \\odot (1 - M_1(x + y)), \\qquad
        w = M_2(x \\uplus y), \\qquad z = x \\odot w + y \\odot (1 - w)

    ``M_1`` (in ``initial_fusion``) and ``M_2`` (``attention``) are two
    :class:`MSCAM` with their own local and global branches. Inputs as in
    :class:`AFF`. Shapes: all ``(N, C, H, W)``.

    Deliberate departures: the reference builds ``global_att2`` but calls
    ``global_att`` in both rounds, so ``global_att2`` never gets a gradient
    (and DDP without ``find_unused_parameters`` fails); here the second
    round uses its own global branch, as in the paper. Otherwise those of
    :class:`MSCAM`.

    Probe points: ``gate`` (``w``, as in :class:`AFF`) and that of
    ``initial_fusion`` (the weights of the first round).

    Args:
        in_channels (int): Channels of each input (and the output).
        **kwargs: The other arguments of :class:`AFF` (``init_cfg`` and the
            MS-CAM arguments, shared by both rounds).
    """

    _abbr_ = 'iaff'

    def __init__(self, in_channels: int, **kwargs):
        super().__init__(in_channels, **kwargs)
        # registered before ``attention`` so that parameters and state-dict
        # keys come in the order of computation (round 1, then round 2)
        attention = self._modules.pop('attention')
        self.initial_fusion = AFF(in_channels, **self.mscam_cfg)
        self.attention = attention

    def integrate(self, x: Tensor, y: Tensor) -> Tensor:
        """The initial integration ``x ⊎ y``: a first attentional fusion."""
        return self.initial_fusion(x, y)
