# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Reference code of MS-CAM, AFF and iAFF, transcribed once from the AFF
article (its HTML markup removed).

Known defect, fixable by a flag: the iAFF reference calls ``global_att`` in
its second round again and never uses ``global_att2`` (which then gets no
gradient, and DDP without ``find_unused_parameters`` fails).
``RefIAFF(..., fix_global_att2=True)`` uses ``global_att2`` there; the default
is the literal code.
"""
import torch.nn as nn

__all__ = ['RefAFF', 'RefIAFF', 'RefMSCAM']


def _local_att(channels, inter_channels):
    return nn.Sequential(
        nn.Conv2d(channels, inter_channels, kernel_size=1, stride=1, padding=0),
        nn.BatchNorm2d(inter_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(inter_channels, channels, kernel_size=1, stride=1, padding=0),
        nn.BatchNorm2d(channels),
    )


def _global_att(channels, inter_channels):
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), *_local_att(channels, inter_channels))


class RefMSCAM(nn.Module):
    """MS-CAM: ``x * sigmoid(L(x) + G(x))``."""

    def __init__(self, channels=64, r=4):
        super().__init__()
        inter_channels = int(channels // r)
        self.local_att = _local_att(channels, inter_channels)
        self.global_att = _global_att(channels, inter_channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        xl = self.local_att(x)
        xg = self.global_att(x)
        xlg = xl + xg
        wei = self.sigmoid(xlg)
        return x * wei


class RefAFF(RefMSCAM):
    """AFF: ``w = M(x + residual); x * w + residual * (1 - w)``."""

    def forward(self, x, residual):
        xa = x + residual
        xl = self.local_att(xa)
        xg = self.global_att(xa)
        xlg = xl + xg
        wei = self.sigmoid(xlg)
        xo = x * wei + residual * (1 - wei)
        return xo


class RefIAFF(RefAFF):
    """iAFF: AFF whose initial sum is itself an AFF.

    The first round is :class:`RefAFF`'s forward (the reference repeats its
    lines); the second has its own local and global branches.

    Args:
        channels (int): Channels. Defaults to 64.
        r (int): Reduction ratio. Defaults to 4.
        fix_global_att2 (bool): Use ``global_att2`` in the second round.
            Defaults to False (the literal reference, which calls
            ``global_att`` again).
    """

    def __init__(self, channels=64, r=4, fix_global_att2=False):
        super().__init__(channels, r)
        inter_channels = int(channels // r)
        self.local_att2 = _local_att(channels, inter_channels)
        self.global_att2 = _global_att(channels, inter_channels)
        self.fix_global_att2 = fix_global_att2

    def forward(self, x, residual):
        xi = super().forward(x, residual)
        # the reference calls self.global_att here
        xg2 = self.global_att2(xi) if self.fix_global_att2 else self.global_att(xi)
        wei2 = self.sigmoid(self.local_att2(xi) + xg2)
        return x * wei2 + residual * (1 - wei2)
