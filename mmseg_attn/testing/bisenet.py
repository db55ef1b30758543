# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Reference code of the BiSeNet blocks, transcribed once.

- :class:`RefARM`, :class:`RefFFM`: the BiSeNet reference code (CoinCheung,
  paper version).
- :class:`RefSimpleARM`, :class:`RefOverflowFFM`: the simplified blocks of
  the ooooverflow BiSeNet code.
- :class:`RefAttentionout`, :class:`RefSAR`: the "Attentionout" and SAR
  variants of the seed articles.

Known defects, documented and fixable by a flag where they change the result:

- "Attentionout" computes ``x + out`` and then returns ``out``.
  ``RefAttentionout(..., fix_residual=True)`` returns ``x + out``; the
  default is the literal code.
- SAR takes an ``out_chan`` it never uses (dropped here) and names a
  ``bn_atten`` and ``sigmoid_atten`` it never defines (read as
  ``BatchNorm2d(1)`` and a sigmoid).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'RefARM', 'RefAttentionout', 'RefConvBNReLU', 'RefFFM', 'RefOverflowFFM', 'RefSAR',
    'RefSimpleARM'
]


class RefConvBNReLU(nn.Module):
    """``ConvBNReLU`` of the BiSeNet reference code."""

    def __init__(self, in_chan, out_chan, ks=3, stride=1, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, kernel_size=ks, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_chan)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class RefARM(nn.Module):
    """ARM of the BiSeNet reference code (seed article on ARM)."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.conv = RefConvBNReLU(in_chan, out_chan, ks=3, stride=1, padding=1)
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)
        self.sigmoid_atten = nn.Sigmoid()

    def forward(self, x):
        feat = self.conv(x)
        atten = F.avg_pool2d(feat, feat.size()[2:])
        atten = self.conv_atten(atten)
        atten = self.bn_atten(atten)
        atten = self.sigmoid_atten(atten)
        out = torch.mul(feat, atten)
        return out


class RefSimpleARM(nn.Module):
    """Simplified ARM of the ooooverflow BiSeNet code (seed article on BiSeNet).

    Its ``bn`` is built but never used.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)  # built but unused there
        self.sigmoid = nn.Sigmoid()
        self.in_channels = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))

    def forward(self, input):
        x = self.avgpool(input)
        assert self.in_channels == x.size(1)
        x = self.conv(x)
        x = self.sigmoid(x)
        x = torch.mul(input, x)
        return x


class RefAttentionout(nn.Module):
    """"Attentionout": ``out = x * sigmoid(BN(W x))``.

    Args:
        out_chan (int): Channels.
        fix_residual (bool): Return ``x + out``, which the reference computes
            and then drops. Defaults to False (the literal reference, which
            returns ``out``).
    """

    def __init__(self, out_chan, fix_residual=False):
        super().__init__()
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)
        self.sigmoid_atten = nn.Sigmoid()
        self.fix_residual = fix_residual

    def forward(self, x):
        atten = self.conv_atten(x)
        atten = self.bn_atten(atten)
        atten = self.sigmoid_atten(atten)
        out = torch.mul(x, atten)
        if self.fix_residual:
            return x + out
        return out


class RefSAR(nn.Module):
    """SAR; the unused ``out_chan`` dropped, the undefined ``bn_atten`` and
    ``sigmoid_atten`` read as ``BatchNorm2d(1)`` and a sigmoid."""

    def __init__(self, in_chan, mid):
        super().__init__()
        self.conv_reduce = RefConvBNReLU(in_chan, mid, 1, 1, 0)
        self.conv_atten = nn.Conv2d(2, 1, kernel_size=3, padding=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(1)
        self.sigmoid_atten = nn.Sigmoid()

    def forward(self, x):
        x_att = self.conv_reduce(x)
        low_attention_mean = torch.mean(x_att, 1, True)
        low_attention_max = torch.max(x_att, 1, True)[0]
        low_attention = torch.cat([low_attention_mean, low_attention_max], dim=1)
        spatial_attention = self.sigmoid_atten(self.bn_atten(self.conv_atten(low_attention)))
        x = x * spatial_attention
        return x


class RefFFM(nn.Module):
    """FFM of the BiSeNet reference code (paper version, CoinCheung)."""

    def __init__(self, in_chan, out_chan):
        super().__init__()
        self.convblk = RefConvBNReLU(in_chan, out_chan, ks=1, stride=1, padding=0)
        self.conv1 = nn.Conv2d(out_chan, out_chan // 4, kernel_size=1, stride=1, padding=0,
                               bias=False)
        self.conv2 = nn.Conv2d(out_chan // 4, out_chan, kernel_size=1, stride=1, padding=0,
                               bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, fsp, fcp):
        fcat = torch.cat([fsp, fcp], dim=1)
        feat = self.convblk(fcat)
        atten = F.avg_pool2d(feat, feat.size()[2:])
        atten = self.conv1(atten)
        atten = self.relu(atten)
        atten = self.conv2(atten)
        atten = self.sigmoid(atten)
        feat_atten = torch.mul(feat, atten)
        feat_out = feat_atten + feat
        return feat_out


class _ConvBlock(nn.Module):
    """``ConvBlock`` of the ooooverflow BiSeNet code."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=2, padding=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size,
                               stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, input):
        x = self.conv1(input)
        return self.relu(self.bn(x))


class RefOverflowFFM(nn.Module):
    """FFM of the ooooverflow BiSeNet code (seed article on BiSeNet)."""

    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.in_channels = in_channels
        self.convblock = _ConvBlock(in_channels=self.in_channels, out_channels=num_classes,
                                    stride=1)
        self.conv1 = nn.Conv2d(num_classes, num_classes, kernel_size=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(num_classes, num_classes, kernel_size=1)
        self.sigmoid = nn.Sigmoid()
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))

    def forward(self, input_1, input_2):
        x = torch.cat((input_1, input_2), dim=1)
        assert self.in_channels == x.size(1)
        feature = self.convblock(x)
        x = self.avgpool(feature)
        x = self.relu(self.conv1(x))
        x = self.sigmoid(self.conv2(x))
        x = torch.mul(feature, x)
        x = torch.add(x, feature)
        return x
