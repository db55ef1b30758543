# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Pictures of what the attention blocks of a segmentor do on one image."""
import json
import os
import os.path as osp
import re
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmseg.structures import SegDataSample

from .draw import channel_bar_chart, fla_summary, normalize_map, overlay_heatmap
from .recorder import AttentionRecorder

__all__ = ['default_cam_target', 'grad_cam', 'load_image', 'preprocess', 'visualize_attention']


def load_image(path: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """Read an image as BGR uint8 (as mmseg's ``LoadImageFromFile``).

    Args:
        path (str): Image file.
        shape (Sequence[int], optional): ``(H, W)`` to resize to.
            Defaults to None (keep the size).
    """
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read an image from {path!r}')
    if shape is not None:
        h, w = shape
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image


def preprocess(model: nn.Module, image: np.ndarray) -> torch.Tensor:
    """Normalise one BGR image with the model's data preprocessor.

    Returns:
        Tensor: ``(1, 3, H, W)`` on the model's device.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    h, w = image.shape[:2]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    data = model.data_preprocessor(dict(inputs=[tensor], data_samples=[sample]), False)
    return data['inputs']


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
    over the channels ``k`` of the target activation ``A``.

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
    module = model.get_submodule(layer)
    captured = {}

    def hook(mod, args, output):
        if isinstance(output, (tuple, list)):
            i = 0 if index is None else index
            captured['index'] = i
            captured['act'] = output[i]
        else:
            captured['act'] = output
        return output

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(inputs, mode='tensor')
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


def _file_name(i: int, kind: str, name: str, call: int) -> str:
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', name)
    return f'{i:02d}_{kind}_{safe}' + (f'_call{call}' if call else '') + '.png'


def _value_range(data: np.ndarray):
    """Gate weights in [0, 1] keep that scale; anything else is stretched."""
    return (0.0, 1.0) if data.min() >= 0 and data.max() <= 1 else None


def visualize_attention(model: nn.Module,
                        image: np.ndarray,
                        out_dir: str,
                        class_id: Optional[int] = None,
                        cam_layer: Optional[str] = None,
                        cam_index: Optional[int] = None,
                        alpha: float = 0.5,
                        chart_size: Sequence[int] = (800, 400),
                        fla_size: Sequence[int] = (1000, 700)) -> dict:
    """Write a PNG for every attention map of the model on ``image`` and a Grad-CAM.

    Files in ``out_dir`` (``NN`` is the order in which the maps were
    computed):

    - ``NN_spatial_<block>.png``: spatial maps (SpatialAttention, also inside
      CBAM and SAR) over the image, same size as the image;
    - ``NN_pixel_<block>.png``: PixelAttention (or a stand-alone MS-CAM)
      weights, averaged over channels, over the image;
    - ``NN_fusion_<block>.png``: AFF / iAFF fusion weights of the first input
      (1: all first input, 0: all second input), averaged over channels;
    - ``NN_channel_<block>.png``: channel weights (SE, ChannelAttention,
      ARM, FFM) as a bar chart of ``chart_size``;
    - ``NN_fla_<block>.png``: the FLA attention summarised per row/column,
      of ``fla_size``;
    - ``gradcam_class<k>.png``: Grad-CAM of class ``k`` over the image;
    - ``attention_maps.json``: what each file shows.

    Args:
        model (nn.Module): The segmentor in eval mode.
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        out_dir (str): Output folder (created).
        class_id (int, optional): Class of the Grad-CAM. Defaults to None,
            meaning the class predicted on most pixels.
        cam_layer (str, optional): Module path of the Grad-CAM target.
            Defaults to None, meaning the decode head's input.
        cam_index (int, optional): Element of a tuple output. Defaults to None.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        chart_size (Sequence[int]): ``(width, height)`` of the bar charts.
            Defaults to (800, 400).
        fla_size (Sequence[int]): ``(width, height)`` of the FLA summaries.
            Defaults to (1000, 700).

    Returns:
        dict: The content of ``attention_maps.json``.
    """
    os.makedirs(out_dir, exist_ok=True)
    inputs = preprocess(model, image)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        logits = model(inputs, mode='tensor')
    pred = logits.argmax(1)[0]
    maps = []
    for i, (record, info) in enumerate(zip(recorder.records, recorder.summary())):
        name = _file_name(i, record.kind, record.name, record.call)
        if record.kind == 'channel':
            picture = channel_bar_chart(record.data, record.label, chart_size)
        elif record.kind == 'fla':
            picture = fla_summary(record.data, record.label, image, fla_size)
        else:
            data = record.data if record.kind == 'spatial' else record.data.mean(0)
            picture = overlay_heatmap(image, data, alpha, _value_range(data))
            info.update(min=float(data.min()), max=float(data.max()),
                        mean=float(data.mean()))
        if record.kind == 'channel':
            info.update(min=float(record.data.min()), max=float(record.data.max()),
                        mean=float(record.data.mean()))
        cv2.imwrite(osp.join(out_dir, name), picture)
        maps.append(dict(info, file=name, label=record.label))

    if class_id is None:
        class_id = int(torch.bincount(pred.flatten()).argmax())
    cam, cam_info = grad_cam(model, inputs, class_id, cam_layer, cam_index)
    cam_file = f'gradcam_class{class_id}.png'
    cv2.imwrite(osp.join(out_dir, cam_file),
                overlay_heatmap(image, normalize_map(cam), alpha, value_range=(0.0, 1.0)))
    index = dict(
        image_shape=list(image.shape[:2]),
        maps=maps,
        unsupported_blocks=recorder.unsupported,
        gradcam=dict(cam_info, file=cam_file))
    with open(osp.join(out_dir, 'attention_maps.json'), 'w') as f:
        json.dump(index, f, indent=2)
    return index
