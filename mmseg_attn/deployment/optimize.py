# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The PyTorch inference fast path: conv+BN folding, channels_last, bf16/fp16
autocast, torch.compile."""
import functools
import warnings
from typing import Callable, Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.utils.fuse_conv_bn import _fuse_conv_bn

from mmseg_attn.utils.cpu import native_bf16

__all__ = ['PRECISIONS', 'fuse_conv_bn', 'optimize_for_inference']

#: ``precision`` of :func:`optimize_for_inference` -> the autocast dtype.
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}

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


def _float(out):
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out.float()
    if isinstance(out, (list, tuple)):
        return type(out)(_float(o) for o in out)
    return out


def _autocast(fn: Callable, device_type: str, dtype: torch.dtype, cast_back: bool) -> Callable:
    """``fn`` under ``torch.autocast``; with ``cast_back`` its output in float32."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with torch.autocast(device_type, dtype=dtype):
            out = fn(*args, **kwargs)
        return _float(out) if cast_back else out

    return run


def _check_precision(precision: str, device_type: str) -> Optional[torch.dtype]:
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {tuple(PRECISIONS)}, got {precision!r}')
    dtype = PRECISIONS[precision]
    if dtype is None or device_type == 'cuda':
        return dtype
    if device_type != 'cpu':
        raise ValueError(f'precision {precision!r} is for the CPU and CUDA, not {device_type}')
    if dtype == torch.float16:
        raise ValueError("precision 'fp16' is for CUDA: on the CPU use 'bf16' (fp16 matrix "
                         'products are emulated there)')
    if not native_bf16():
        warnings.warn('this CPU has no native bfloat16 (AMX or AVX512-BF16): bf16 runs '
                      'emulated there, slower than fp32 (see mmseg_attn.utils.cpu)',
                      stacklevel=3)
    return dtype


def optimize_for_inference(model: nn.Module,
                           fuse_conv_bn: bool = True,
                           channels_last: bool = False,
                           compile: Union[bool, dict] = False,
                           example: Optional[torch.Tensor] = None,
                           precision: str = 'fp32') -> nn.Module:
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
    - ``precision``: ``'bf16'`` (CPU and CUDA) or ``'fp16'`` (CUDA) runs
      ``extract_feat`` and the decode head under :func:`torch.autocast`;
      the logits come out in float32. On a CPU without native bfloat16
      (AMX or AVX512-BF16) a warning says it would be slower than fp32.
      FLA stays on its fused attention kernels (bf16 flash attention).

    Outputs equal the unoptimised model's up to float rounding (fp32), or to
    the rounding of the lower precision.

    Args:
        model (nn.Module): An mmseg segmentor (or any module for the first
            two options).
        fuse_conv_bn (bool): Fold BN into convs. Defaults to True.
        channels_last (bool): Channels-last memory format. Defaults to False.
        compile (bool | dict): torch.compile options. Defaults to False.
        example (Tensor, optional): When given, one forward of
            ``model(example, mode='tensor')`` runs at the end (it compiles
            with ``compile``). Defaults to None.
        precision (str): ``'fp32'``, ``'bf16'`` or ``'fp16'`` (see above).
            Defaults to 'fp32'.

    Returns:
        nn.Module: ``model``.
    """
    if compile is not False and compile is not True and not isinstance(compile, dict):
        raise TypeError(f'compile must be a bool or a dict of torch.compile options, '
                        f'got {compile!r}')
    device = next(model.parameters()).device if any(True for _ in model.parameters()) \
        else torch.device('cpu')
    dtype = _check_precision(precision, device.type)
    model.eval()
    if fuse_conv_bn:
        _fuse_tree(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if (compile is not False or dtype is not None) and (
            not hasattr(model, 'extract_feat') or not hasattr(model, 'decode_head')):
        raise TypeError(f'compile and precision need an mmseg segmentor (extract_feat and '
                        f'decode_head), got {type(model).__name__}')
    if dtype is not None:
        model.extract_feat = _autocast(model.extract_feat, device.type, dtype, False)
        model.decode_head.forward = _autocast(model.decode_head.forward, device.type, dtype,
                                              True)
    if compile is not False:
        options = {} if compile is True else dict(compile)
        model.extract_feat = torch.compile(model.extract_feat, **options)
        head = model.decode_head
        head.forward = torch.compile(head.forward, **options)
    if example is not None:
        with torch.no_grad():
            model(example, mode='tensor')
    return model
