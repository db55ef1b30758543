# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Copy the weights of a reference module into a block."""
import torch
import torch.nn as nn

__all__ = ['copy_weights', 'randomize_norms']

_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def _param_layers(module: nn.Module):
    return [m for m in module.modules() if isinstance(m, _LAYERS)]


@torch.no_grad()
def randomize_norms(module: nn.Module, generator: torch.Generator) -> None:
    """Give every ``BatchNorm2d`` random statistics and affine parameters.

    Fresh norms are the identity in eval mode, which would hide a wrong
    pairing of layers.

    Args:
        module (nn.Module): Changed in place.
        generator (torch.Generator): Source of the random values.
    """
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            shape = m.running_mean.shape
            m.running_mean.copy_(torch.randn(shape, generator=generator) * 0.2)
            m.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(shape, generator=generator) * 0.2)


@torch.no_grad()
def copy_weights(src: nn.Module, dst: nn.Module, seed: int = 0) -> None:
    """Copy ``src``'s weights into ``dst``, pairing layers in registration order.

    The norms of ``src`` first get random statistics and affine parameters
    (:func:`randomize_norms`, seeded by ``seed``). Conv, Linear and
    BatchNorm2d layers are paired in ``modules()`` order; Linear weights go
    into 1x1 convs reshaped. A bias that only ``src`` has is zeroed in
    ``src`` (the block drops a bias in front of a norm); a bias that only
    ``dst`` has is zeroed in ``dst``. Paired norms must agree on ``eps`` and
    ``momentum``.

    Args:
        src (nn.Module): The reference; its norms and unmatched biases change.
        dst (nn.Module): The block that receives the weights.
        seed (int): Seed of the random norm parameters. Defaults to 0.

    Raises:
        ValueError: When the two modules have different numbers of layers,
            or a norm is paired with another kind of layer or another
            ``eps`` / ``momentum``.
    """
    randomize_norms(src, torch.Generator().manual_seed(seed))
    src_layers, dst_layers = _param_layers(src), _param_layers(dst)
    if len(src_layers) != len(dst_layers):
        raise ValueError(f'copy_weights pairs layers in order, but src has '
                         f'{len(src_layers)} and dst {len(dst_layers)}: '
                         f'{src_layers} vs {dst_layers}')
    for s, d in zip(src_layers, dst_layers):
        if isinstance(s, nn.BatchNorm2d) != isinstance(d, nn.BatchNorm2d):
            raise ValueError(f'copy_weights paired {s} with {d}')
        d.weight.copy_(s.weight.reshape(d.weight.shape))
        if isinstance(s, nn.BatchNorm2d):
            d.bias.copy_(s.bias)
            d.running_mean.copy_(s.running_mean)
            d.running_var.copy_(s.running_var)
            if (s.eps, s.momentum) != (d.eps, d.momentum):
                raise ValueError(f'copy_weights paired norms with other eps / momentum: '
                                 f'{s} vs {d}')
            continue
        if s.bias is not None and d.bias is not None:
            d.bias.copy_(s.bias)
        elif s.bias is not None:
            s.bias.zero_()
        elif d.bias is not None:
            d.bias.zero_()
