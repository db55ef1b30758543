# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The official FLA block and FLANet head, transcribed for comparisons.

The official code is `github.com/maggiesong7/FullyAttentional
<https://github.com/maggiesong7/FullyAttentional>`_ (``model.py``). Both
modules keep its module names, so their state dicts have the official keys;
:data:`FLA_KEY_MAP` and :data:`FLA_HEAD_KEY_MAP` with :func:`translate_keys`
turn them into the keys of :class:`~mmseg_attn.models.layers.FullyAttentionalBlock`
and :class:`~mmseg_attn.models.decode_heads.FLAHead`.

The official block pairs the columns (rows) of the batch with
``encode_h.repeat(width, 1, 1)``, i.e. with the priors of image ``i mod N``
instead of its own. ``fix_batch=True`` replaces that by
``repeat_interleave``, which pairs every column with its own image's priors
(what mmseg_attn computes); for ``N = 1`` both agree.
"""
import re
from collections import OrderedDict
from typing import Mapping, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'FLAReference', 'FLAHeadReference', 'FLA_KEY_MAP', 'FLA_HEAD_KEY_MAP', 'translate_keys'
]


class FLAReference(nn.Module):
    """The FLA block of the official code, transcribed literally.

    ``norm_layer`` defaults to ``BatchNorm2d`` instead of the official
    ``SyncBatchNorm`` (no process group in tests).

    Args:
        plane (int): Channels.
        norm_layer (type): Norm after the 3x3 conv.
            Defaults to nn.BatchNorm2d.
        fix_batch (bool): Pair every column/row with its own image's priors
            (``repeat_interleave``) instead of the official ``repeat``.
            Defaults to False.
    """

    def __init__(self, plane, norm_layer=nn.BatchNorm2d, fix_batch=False):
        super().__init__()
        self.conv1 = nn.Linear(plane, plane)
        self.conv2 = nn.Linear(plane, plane)
        self.conv = nn.Sequential(
            nn.Conv2d(plane, plane, 3, stride=1, padding=1, bias=False), norm_layer(plane),
            nn.ReLU())
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.fix_batch = fix_batch

    def _pair(self, encode, times):
        if self.fix_batch:
            return encode.repeat_interleave(times, 0)
        return encode.repeat(times, 1, 1)

    def forward(self, x):
        batch_size, _, height, width = x.size()
        feat_h = x.permute(0, 3, 1, 2).contiguous().view(batch_size * width, -1, height)
        feat_w = x.permute(0, 2, 1, 3).contiguous().view(batch_size * height, -1, width)
        encode_h = self.conv1(
            F.avg_pool2d(x, [1, width]).view(batch_size, -1, height).permute(0, 2,
                                                                            1).contiguous())
        encode_w = self.conv2(
            F.avg_pool2d(x, [height, 1]).view(batch_size, -1, width).permute(0, 2,
                                                                            1).contiguous())
        energy_h = torch.matmul(feat_h, self._pair(encode_h, width))
        energy_w = torch.matmul(feat_w, self._pair(encode_w, height))
        full_relation_h = self.softmax(energy_h)  # [b*w, c, c]
        full_relation_w = self.softmax(energy_w)
        full_aug_h = torch.bmm(full_relation_h, feat_h).view(batch_size, width, -1,
                                                             height).permute(0, 2, 3, 1)
        full_aug_w = torch.bmm(full_relation_w, feat_w).view(batch_size, height, -1,
                                                             width).permute(0, 2, 1, 3)
        out = self.gamma * (full_aug_h + full_aug_w) + x
        out = self.conv(out)
        return out

    def attention_maps(self, x):
        """The softmax attentions the forward forms, as
        ``(N, W, C, C)`` columns and ``(N, H, C, C)`` rows."""
        n, c, h, w = x.size()
        feat_h = x.permute(0, 3, 1, 2).contiguous().view(n * w, -1, h)
        feat_w = x.permute(0, 2, 1, 3).contiguous().view(n * h, -1, w)
        encode_h = self.conv1(F.avg_pool2d(x, [1, w]).view(n, -1, h).permute(0, 2, 1))
        encode_w = self.conv2(F.avg_pool2d(x, [h, 1]).view(n, -1, w).permute(0, 2, 1))
        col = self.softmax(torch.matmul(feat_h, self._pair(encode_h, w)))
        row = self.softmax(torch.matmul(feat_w, self._pair(encode_w, h)))
        return col.view(n, w, c, c), row.view(n, h, c, c)


class _OutputReference(nn.Module):
    """``FLANet.conv_out1`` of the official code."""

    def __init__(self, in_plane, mid_plane, num_classes):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(in_plane, mid_plane, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(mid_plane), nn.ReLU(), nn.Dropout2d(0.1, False),
            nn.Conv2d(mid_plane, num_classes, kernel_size=1, stride=1, padding=0, bias=True))

    def forward(self, x):
        return self.conv(x)


class FLAHeadReference(nn.Module):
    """The head of the official FLANet model, op for op.

    ``FLANet.conv`` (two 3x3 conv-BN-ReLU), ``FLANet.fully`` (the FLA block)
    and ``FLANet.conv_out1`` (x2 upsampling, 3x3 conv-BN-ReLU, dropout,
    classifier) with the official module names, at configurable widths.

    Args:
        in_plane (int): Channels of the input features.
        plane (int): Channels of the head.
        num_classes (int): Classes.
        fix_batch (bool): See :class:`FLAReference`. Defaults to True.
    """

    def __init__(self, in_plane, plane, num_classes, fix_batch=True):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_plane, plane, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(plane),
            nn.ReLU(), nn.Conv2d(plane, plane, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(plane), nn.ReLU())
        self.fully = FLAReference(plane, fix_batch=fix_batch)
        self.conv_out1 = _OutputReference(in_plane + plane, plane, num_classes)

    def forward(self, x3):
        full_feats = self.fully(self.conv(x3))
        return self.conv_out1(torch.cat([x3, full_feats], 1))


#: official FLA block key -> FullyAttentionalBlock key (regex, replacement)
FLA_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    (r'^conv\.0\.', 'conv.conv.'),
    (r'^conv\.1\.', 'conv.bn.'),
    (r'^(conv1|conv2|gamma)\b', r'\1'),
)

#: official FLANet head key -> FLAHead key (regex, replacement)
FLA_HEAD_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    (r'^conv\.0\.', 'reduce.0.conv.'),
    (r'^conv\.1\.', 'reduce.0.bn.'),
    (r'^conv\.3\.', 'reduce.1.conv.'),
    (r'^conv\.4\.', 'reduce.1.bn.'),
    (r'^fully\.conv\.0\.', 'fla.conv.conv.'),
    (r'^fully\.conv\.1\.', 'fla.conv.bn.'),
    (r'^fully\.', 'fla.'),
    (r'^conv_out1\.conv\.1\.', 'bottleneck.conv.'),
    (r'^conv_out1\.conv\.2\.', 'bottleneck.bn.'),
    (r'^conv_out1\.conv\.5\.', 'conv_seg.'),
)


def translate_keys(state_dict: Mapping[str, torch.Tensor],
                   key_map: Sequence[Tuple[str, str]]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename the keys of an official state dict with the first matching rule.

    Args:
        state_dict (Mapping[str, Tensor]): Official keys.
        key_map (Sequence[tuple[str, str]]): ``(pattern, replacement)``
            rules for :func:`re.sub`, e.g. :data:`FLA_KEY_MAP`.

    Returns:
        OrderedDict[str, Tensor]: The same tensors under mmseg_attn's keys.

    Raises:
        KeyError: If no rule matches a key.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in key_map:
            if re.match(pattern, key):
                out[re.sub(pattern, repl, key)] = value
                break
        else:
            raise KeyError(f'no rule of the key map renames {key!r}')
    return out
