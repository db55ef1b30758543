# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Reference code of Squeeze-and-Excitation and CBAM, transcribed once.

- :class:`RefSELayer`: the SE layer of the reference article (FC layers
  without bias); ``bias=True`` gives the paper's biased FC layers.
- :class:`RefChannelGate`, :class:`RefSpatialGate`, :class:`RefCBAM`: the
  official CBAM code (Park et al., ``attention-module``, ``MODELS/cbam.py``);
  ``kernel_size`` and ``bn`` are arguments so that the paper's plain conv can
  be checked too. The official spatial gate stacks ``[max; mean]``, the paper
  and :class:`~mmseg_attn.models.layers.SpatialAttention` ``[mean; max]``:
  :func:`flip_mean_max` swaps the two input channels of a copied conv.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'RefBasicConv', 'RefCBAM', 'RefChannelGate', 'RefChannelPool', 'RefSELayer',
    'RefSpatialGate', 'flip_mean_max'
]


class RefSELayer(nn.Module):
    """SE layer of the reference article.

    Args:
        channel (int): Channels.
        reduction (int): Reduction ratio. Defaults to 16.
        bias (bool): Biased FC layers (the paper) instead of the article's
            bias-free ones. Defaults to False.
    """

    def __init__(self, channel, reduction=16, bias=False):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=bias),
            nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class RefBasicConv(nn.Module):
    """``BasicConv`` of the official CBAM code (BN momentum 0.01)."""

    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, relu=True, bn=True, bias=False):
        super().__init__()
        self.out_channels = out_planes
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride,
                              padding=padding, dilation=dilation, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01,
                                 affine=True) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class _Flatten(nn.Module):

    def forward(self, x):
        return x.view(x.size(0), -1)


class RefChannelGate(nn.Module):
    """``ChannelGate`` of the official CBAM code."""

    def __init__(self, gate_channels, reduction_ratio=16, pool_types=('avg', 'max')):
        super().__init__()
        self.gate_channels = gate_channels
        self.mlp = nn.Sequential(
            _Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels))
        self.pool_types = pool_types

    def forward(self, x):
        channel_att_sum = None
        for pool_type in self.pool_types:
            if pool_type == 'avg':
                avg_pool = F.avg_pool2d(x, (x.size(2), x.size(3)),
                                        stride=(x.size(2), x.size(3)))
                channel_att_raw = self.mlp(avg_pool)
            elif pool_type == 'max':
                max_pool = F.max_pool2d(x, (x.size(2), x.size(3)),
                                        stride=(x.size(2), x.size(3)))
                channel_att_raw = self.mlp(max_pool)
            if channel_att_sum is None:
                channel_att_sum = channel_att_raw
            else:
                channel_att_sum = channel_att_sum + channel_att_raw
        scale = torch.sigmoid(channel_att_sum).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class RefChannelPool(nn.Module):
    """``ChannelPool`` of the official CBAM code: ``[max; mean]`` over channels."""

    def forward(self, x):
        return torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)),
                         dim=1)


class RefSpatialGate(nn.Module):
    """``SpatialGate`` of the official CBAM code.

    Args:
        kernel_size (int): Kernel of the conv. Defaults to 7.
        bn (bool): The official BN after the conv; False gives the paper's
            plain (biased) conv. Defaults to True.
    """

    def __init__(self, kernel_size=7, bn=True):
        super().__init__()
        self.compress = RefChannelPool()
        self.spatial = RefBasicConv(2, 1, kernel_size, stride=1, padding=(kernel_size - 1) // 2,
                                    relu=False, bn=bn, bias=not bn)

    def forward(self, x):
        x_compress = self.compress(x)
        x_out = self.spatial(x_compress)
        scale = torch.sigmoid(x_out)  # broadcasting
        return x * scale


class RefCBAM(nn.Module):
    """``CBAM`` of the official code: channel gate, then spatial gate."""

    def __init__(self, gate_channels, reduction_ratio=16, pool_types=('avg', 'max'),
                 kernel_size=7, bn=True):
        super().__init__()
        self.ChannelGate = RefChannelGate(gate_channels, reduction_ratio, pool_types)
        self.SpatialGate = RefSpatialGate(kernel_size, bn)

    def forward(self, x):
        x_out = self.ChannelGate(x)
        x_out = self.SpatialGate(x_out)
        return x_out


@torch.no_grad()
def flip_mean_max(spatial_attention: nn.Module) -> None:
    """Swap the two input channels of a ``SpatialAttention``'s copied conv.

    The official code stacks ``[max; mean]``, the paper (and the block)
    ``[mean; max]``; call this after copying the official weights.
    """
    weight = spatial_attention.conv.conv.weight
    weight.copy_(weight.flip(1))
