# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Grad-CAM of one class of a segmentor."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = ['default_cam_target', 'grad_cam']


def default_cam_target(model: nn.Module) -> Tuple[str, Optional[int]]:
    """The decode head's input: the neck's (or backbone's) output at ``in_index``."""
    layer = 'neck' if getattr(model, 'with_neck', False) else 'backbone'
    in_index = getattr(model.decode_head, 'in_index', 0)
    if isinstance(in_index, (list, tuple)):
        in_index = in_index[0]
    return layer, in_index


def grad_cam(model: nn.Module,
             inputs: torch.Tensor,
             class_id: int,
             layer: Optional[str] = None,
             index: Optional[int] = None) -> Tuple[np.ndarray, dict]:
    """Grad-CAM of one class of a segmentor.

    The score is the sum of the class's logits over the pixels predicted as
    that class (all pixels when there are none), as in mmseg's
    ``visualization_cam.py``; the map is ``ReLU(sum_k mean(dS/dA_k) A_k)``
    over the channels ``k`` of the target activation ``A``. Only the
    gradient with respect to ``A`` is computed (``torch.autograd.grad``):
    no parameter's ``.grad`` is touched.

    Args:
        model (nn.Module): The segmentor (eval mode).
        inputs (Tensor): ``(1, 3, H, W)`` preprocessed image.
        class_id (int): The class.
        layer (str, optional): Path of the module whose output is ``A``.
            Defaults to None, meaning the decode head's input
            (:func:`default_cam_target`).
        index (int, optional): Which element when that module returns a
            tuple or list. Defaults to None (the decode head's ``in_index``
            for the default layer, else 0).

    Returns:
        tuple: The map ``(h, w)`` at the resolution of ``A`` (not
        normalised) and a dict describing the target and the score.
    """
    num_classes = model.decode_head.num_classes
    if not 0 <= class_id < num_classes:
        raise ValueError(f'class_id must be in [0, {num_classes}), got {class_id}')
    if layer is None:
        layer, default_index = default_cam_target(model)
        index = default_index if index is None else index
    try:
        module = model.get_submodule(layer)
    except AttributeError as e:
        raise ValueError(f'cam layer {layer!r} is not a module of the model ({e})') from None
    captured = {}

    def leaf(act):
        # a frozen part of the model gives an activation outside the graph:
        # make it a leaf that the score's gradient can reach
        return act if act.requires_grad else act.detach().requires_grad_()

    def hook(mod, args, output):
        if isinstance(output, (tuple, list)):
            i = 0 if index is None else index
            if not -len(output) <= i < len(output):
                raise ValueError(f'cam index {i} is out of range: {layer!r} returns '
                                 f'{len(output)} tensors')
            captured['index'] = i
            captured['act'] = leaf(output[i])
            output = type(output)(captured['act'] if j == i % len(output) else o
                                  for j, o in enumerate(output))
        else:
            captured['act'] = output = leaf(output)
        return output

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(inputs, mode='tensor')
            if 'act' not in captured:
                raise ValueError(f'cam layer {layer!r} did not run in the forward')
            pred = logits.argmax(1)
            mask = (pred == class_id)
            pixels = int(mask.sum())
            if pixels == 0:
                mask = torch.ones_like(mask)
            score = (logits[:, class_id] * mask).sum()
            act = captured['act']
            (grad, ) = torch.autograd.grad(score, act)
    finally:
        handle.remove()
    if act.dim() != 4:
        raise ValueError(f'the Grad-CAM target {layer!r} must give an (N, C, H, W) tensor, '
                         f'got shape {tuple(act.shape)}')
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(1))[0].detach().float().cpu().numpy()
    info = dict(layer=layer, index=captured.get('index'), class_id=class_id,
                activation_shape=list(act.shape), predicted_pixels=pixels,
                score=float(score.detach()))
    return cam, info
