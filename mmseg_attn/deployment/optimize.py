# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The PyTorch inference fast path: conv+BN folding, channels_last, torch.compile."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.utils.fuse_conv_bn import _fuse_conv_bn

__all__ = ['fuse_conv_bn', 'optimize_for_inference']

_BN = (nn.modules.batchnorm._BatchNorm, nn.SyncBatchNorm)


def _norm_after_conv(module: nn.Module) -> bool:
    """False for a ConvModule that normalises its input (``order`` norm first)."""
    if isinstance(module, ConvModule) and module.with_norm:
        return module.order.index('conv') < module.order.index('norm')
    return True


def fuse_conv_bn(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm into the convolution before it, in place.

    The rule of :func:`mmcv.cnn.fuse_conv_bn` (a BN child that follows a
    ``nn.Conv2d`` child of the same parent is folded into it and replaced by
    ``nn.Identity``; mmcv's ``_fuse_conv_bn`` does the arithmetic), with
    three guards mmcv lacks: a :class:`~mmcv.cnn.ConvModule` whose ``order``
    puts the norm before the conv is left alone (its BN normalises the
    conv's input), a BN whose width differs from the conv's output is left
    alone, and a BN in training mode is never folded (its statistics are
    still being learnt). Layers such as mmseg's ResNet blocks, ConvModule
    and ``nn.Sequential(conv, bn, ...)`` are all covered.

    Args:
        module (nn.Module): The model, changed in place.

    Returns:
        int: The number of BN layers folded.
    """
    count = 0
    last_conv = last_name = None
    fusable = _norm_after_conv(module)
    for name, child in module.named_children():
        if isinstance(child, _BN):
            if (fusable and last_conv is not None and not child.training
                    and child.num_features == last_conv.out_channels
                    and child.track_running_stats and child.running_mean is not None):
                module._modules[last_name] = _fuse_conv_bn(last_conv, child)
                module._modules[name] = nn.Identity()
                count += 1
            last_conv = None
        elif isinstance(child, nn.Conv2d):
            last_conv, last_name = child, name
        else:
            # anything registered in between (an activation, a plugin) may run
            # between the two: mmcv would still fold, which is wrong when it does
            last_conv = None
            count += _fuse_tree(child)
    return count


_fuse_tree = fuse_conv_bn


def optimize_for_inference(model: nn.Module,
                           fuse_conv_bn: bool = True,
                           channels_last: bool = False,
                           compile: Union[bool, dict] = False,
                           example: Optional[torch.Tensor] = None) -> nn.Module:
    """Make a segmentor faster for inference, in place.

    - ``fuse_conv_bn``: every BatchNorm after a convolution is folded into
      its weights (:func:`fuse_conv_bn`); the model is put in eval mode
      first. Training the result is not meaningful.
    - ``channels_last``: parameters and buffers in ``torch.channels_last``
      memory format; convolutions then produce channels-last outputs (the
      input may stay contiguous: oneDNN and cuDNN follow the weights).
    - ``compile``: ``extract_feat`` and the decode head's ``forward`` (the
      part ``predict``, ``encode_decode`` and ``mode='tensor'`` spend their
      time in) are wrapped by :func:`torch.compile`; a dict is passed as its
      keyword arguments (e.g. ``dict(backend='inductor', mode='max-autotune')``).
      The first call compiles.

    Outputs equal the unoptimised model's up to float rounding.

    Args:
        model (nn.Module): An mmseg segmentor (or any module for the first
            two options).
        fuse_conv_bn (bool): Fold BN into convs. Defaults to True.
        channels_last (bool): Channels-last memory format. Defaults to False.
        compile (bool | dict): torch.compile options. Defaults to False.
        example (Tensor, optional): When given, one forward of
            ``model(example, mode='tensor')`` runs at the end (it compiles
            with ``compile``). Defaults to None.

    Returns:
        nn.Module: ``model``.
    """
    if compile is not False and compile is not True and not isinstance(compile, dict):
        raise TypeError(f'compile must be a bool or a dict of torch.compile options, '
                        f'got {compile!r}')
    model.eval()
    if fuse_conv_bn:
        _fuse_tree(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile is not False:
        options = {} if compile is True else dict(compile)
        if not hasattr(model, 'extract_feat') or not hasattr(model, 'decode_head'):
            raise TypeError(f'compile needs an mmseg segmentor (extract_feat and decode_head), '
                            f'got {type(model).__name__}')
        model.extract_feat = torch.compile(model.extract_feat, **options)
        head = model.decode_head
        head.forward = torch.compile(head.forward, **options)
    if example is not None:
        with torch.no_grad():
            model(example, mode='tensor')
    return model
