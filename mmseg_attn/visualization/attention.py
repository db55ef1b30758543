# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Pictures of what the attention blocks of a segmentor do on one image.

:func:`analyze` runs the model once with the attention probes hooked
(:class:`~.recorder.AttentionRecorder`), predicts the image and computes a
Grad-CAM; :func:`visualize_attention` draws all of it into a folder;
:func:`compare_models` draws the same image through several models side by
side.
"""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from .draw import (
    channel_gate_figure,
    channel_gates_figure,
    comparison_figure,
    fla_figure,
    heatmap_figure,
    heatmap_grid_figure,
    normalize_map,
    panel_figure,
    save_png,
)
from .meta import dataset_meta, default_class_id, model_name, resolve_class_id
from .recorder import AttentionRecord, AttentionRecorder

__all__ = [
    'AttentionAnalysis', 'analyze', 'attention_figures', 'compare_models', 'default_cam_target',
    'describe_record', 'grad_cam', 'load_image', 'load_segmentor', 'png_text', 'preprocess',
    'visualize_attention', 'visualize_comparison'
]

#: At most this many maps go into the overview figures (the per-map files hold all).
MAX_OVERVIEW_MAPS = 24

_KIND_WORDS = {
    'channel': 'channel gate',
    'spatial': 'spatial attention',
    'pixel': 'pixel attention, mean over channels',
    'fusion': 'fusion weight of input 1, mean over channels',
    'fla': 'row and column attention',
}
_OVERVIEW_WORDS = {
    'spatial': 'spatial attention',
    'pixel': 'pixel attention',
    'fusion': 'fusion weights',
}
_CBAR_LABELS = {
    'spatial': 'weight per position',
    'pixel': 'mean weight',
    'fusion': 'w: 1 = input 1, 0 = input 2',
}


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


def load_segmentor(config, checkpoint: Optional[str] = None, device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a segmentor for pictures, with ``dataset_meta`` as mmseg's ``init_model``.

    The model comes from :func:`mmseg_attn.apis.build_segmentor`; the
    checkpoint is loaded through mmengine (the secure loader of
    :mod:`mmseg_attn.compat`), and ``model.dataset_meta`` (classes, palette)
    is taken from the checkpoint's meta, else from the config
    (:func:`~.meta.dataset_meta`).

    Args:
        config (str | Config): Config file, ``package::path`` or config.
        checkpoint (str, optional): Checkpoint. Defaults to None (random init).
        device (str): Device. Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides. Defaults to None.

    Returns:
        nn.Module: The segmentor in eval mode.
    """
    from mmengine.runner import load_checkpoint

    from mmseg_attn.apis import build_segmentor
    model = build_segmentor(config, None, device, cfg_options)
    meta = None
    if checkpoint is not None:
        if not osp.isfile(checkpoint) and '://' not in checkpoint:
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        meta = load_checkpoint(model, checkpoint, map_location='cpu').get('meta')
        model.to(device)
    model.dataset_meta = dataset_meta(model.cfg, meta, model.decode_head.num_classes)
    return model.eval()


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


def describe_record(record: AttentionRecord) -> Tuple[str, str]:
    """A headline (``'CBAM spatial attention'``) and the path of a record, for titles."""
    container = record.containers[-1].rsplit(' (', 1)[-1].rstrip(')') if record.containers \
        else None
    block = record.block_type if container is None else f'{record.block_type} in {container}'
    call = f' (call {record.call})' if record.call else ''
    return f'{block}: {_KIND_WORDS.get(record.kind, record.kind)}{call}', record.name


@dataclass
class AttentionAnalysis:
    """Everything the pictures of one model on one image are drawn from.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` BGR input.
        pred (np.ndarray): ``(H, W)`` predicted labels (logits resized to
            the image, as mmseg's whole-image inference does).
        records (list[AttentionRecord]): The attention maps.
        unsupported (list[str]): Blocks that declare a kind but no probe.
        cam (np.ndarray): ``(h, w)`` Grad-CAM (not normalised).
        cam_info (dict): Target layer, class, score (see :func:`grad_cam`).
        classes (list[str]): Class names.
        palette (list): RGB colour of each class.
        class_id (int): Class of the Grad-CAM.
        model (str): Model name.
    """

    image: np.ndarray
    pred: np.ndarray
    records: List[AttentionRecord]
    unsupported: List[str]
    cam: np.ndarray
    cam_info: dict
    classes: List[str]
    palette: list
    class_id: int
    model: str
    summary: List[dict] = field(default_factory=list)

    @property
    def class_name(self) -> str:
        return self.classes[self.class_id]

    @property
    def cam_layer(self) -> str:
        index = self.cam_info.get('index')
        return self.cam_info['layer'] + (f'[{index}]' if index is not None else '')

    @property
    def cam_where(self) -> str:
        """The layer, and a note when the class is predicted nowhere."""
        if self.cam_info.get('predicted_pixels', 1) == 0:
            return f'{self.cam_layer} (not predicted: score over all pixels)'
        return self.cam_layer


def _meta_of(model: nn.Module, meta: Optional[dict]) -> dict:
    if meta is None:
        meta = getattr(model, 'dataset_meta', None)
    if not meta or not meta.get('classes'):
        meta = dataset_meta(getattr(model, 'cfg', None), None, model.decode_head.num_classes)
    return meta


def _unwrap(model: nn.Module) -> nn.Module:
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def analyze(model: nn.Module,
            image: np.ndarray,
            class_id: Optional[int] = None,
            class_name: Optional[str] = None,
            cam_layer: Optional[str] = None,
            cam_index: Optional[int] = None,
            meta: Optional[dict] = None,
            name: Optional[str] = None) -> AttentionAnalysis:
    """Run a segmentor on one image: attention maps, prediction and Grad-CAM.

    The model is used as it is (call ``model.eval()`` first; the hook and
    the tool do). A model wrapper (DDP) is unwrapped.

    Args:
        model (nn.Module): The segmentor.
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        class_id (int, optional): Class of the Grad-CAM. Defaults to None.
        class_name (str, optional): The same by name (case-insensitive).
            Defaults to None; with neither, the most frequent predicted
            foreground class (:func:`~.meta.default_class_id`).
        cam_layer (str, optional): Module path of the Grad-CAM target.
            Defaults to None (the decode head's input).
        cam_index (int, optional): Element of a tuple output. Defaults to None.
        meta (dict, optional): ``classes`` and ``palette``. Defaults to None
            (``model.dataset_meta``, else from ``model.cfg``).
        name (str, optional): Model name for titles. Defaults to None (the
            config file name).

    Returns:
        AttentionAnalysis: The result.
    """
    model = _unwrap(model)
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
            and image.dtype == np.uint8):
        raise ValueError(f'image must be an (H, W, 3) uint8 BGR array, got '
                         f'{getattr(image, "shape", type(image))} '
                         f'{getattr(image, "dtype", "")}'.rstrip())
    meta = _meta_of(model, meta)
    classes = list(meta['classes'])
    chosen = resolve_class_id(classes, class_id, class_name)
    inputs = preprocess(model, image)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        logits = model(inputs, mode='tensor')
        logits = F.interpolate(logits.float(), size=image.shape[:2], mode='bilinear',
                               align_corners=getattr(model.decode_head, 'align_corners', False))
    pred = logits.argmax(1)[0].cpu().numpy()
    if chosen is None:
        chosen = default_class_id(pred, classes)
    cam, cam_info = grad_cam(model, inputs, chosen, cam_layer, cam_index)
    cam_info['class_name'] = classes[chosen]
    return AttentionAnalysis(image=image, pred=pred, records=recorder.records,
                             unsupported=recorder.unsupported, cam=cam, cam_info=cam_info,
                             classes=classes, palette=meta['palette'], class_id=chosen,
                             model=name or model_name(getattr(model, 'cfg', None)),
                             summary=recorder.summary())


def _safe(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_') or 'x'


def _file_name(i: int, record: AttentionRecord) -> str:
    return (f'{i:02d}_{record.kind}_{_safe(record.name)}'
            + (f'_call{record.call}' if record.call else '') + '.png')


def _map_values(record: AttentionRecord) -> np.ndarray:
    return record.data if record.kind == 'spatial' else record.data.mean(0)


def attention_figures(result: AttentionAnalysis, alpha: float = 0.5,
                      chart_size: Sequence[int] = (800, 400),
                      fla_size: Sequence[int] = (1000, 700),
                      per_map: bool = True,
                      roles: Optional[Sequence[str]] = None) -> List[dict]:
    """Draw the figures of an analysis (nothing is written).

    Args:
        result (AttentionAnalysis): What :func:`analyze` returned.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        chart_size (Sequence[int]): ``(width, height)`` of a channel-gate
            figure. Defaults to (800, 400).
        fla_size (Sequence[int]): ``(width, height)`` of an FLA figure.
            Defaults to (1000, 700).
        per_map (bool): Also one figure per spatial map and channel gate
            (the overviews hold them all). Defaults to True. FLA blocks
            always get their own figure.
        roles (Sequence[str], optional): Draw only the figures of these
            roles (see below). Defaults to None (all).

    Returns:
        list[dict]: Per figure: ``role`` (``'panel'``, ``'spatial_maps'``,
        ``'channel_gates'``, ``'fla'``, ``'map'``), ``name`` (file stem),
        ``image`` (RGB array), ``title`` and, for ``'fla'`` and ``'map'``,
        ``record`` (its index in ``result.records``).
    """
    rgb = np.ascontiguousarray(result.image[..., ::-1])
    roles = set(roles) if roles is not None else {'panel', 'spatial_maps', 'channel_gates',
                                                   'fla', 'map'}
    if not per_map:
        roles.discard('map')
    figures = []
    if 'panel' in roles:
        figures.append(dict(role='panel', name='panel', title=f'{result.model}: Grad-CAM of '
                            f'"{result.class_name}" at {result.cam_layer}',
                            image=panel_figure(rgb, result.pred, result.cam, result.classes,
                                               result.palette, result.class_id, result.model,
                                               result.cam_where, alpha)))
    spatial, channel, spatial_kinds = [], [], []
    for i, record in enumerate(result.records):
        headline, path = describe_record(record)
        if record.kind == 'channel':
            channel.append((f'{headline}\n{path}', record.data))
        elif record.kind != 'fla':
            values = _map_values(record)
            spatial.append(dict(values=values, title=f'{headline}\n{path}',
                                cbar_label=_CBAR_LABELS.get(record.kind, 'weight')))
            if record.kind not in spatial_kinds:
                spatial_kinds.append(record.kind)
        if ('fla' if record.kind == 'fla' else 'map') not in roles:
            continue
        title = f'{result.model}: {headline}\n{path}'
        if record.kind == 'channel':
            picture = channel_gate_figure(record.data, title, chart_size)
        elif record.kind == 'fla':
            picture = fla_figure(rgb, record.data, title, fla_size, alpha)
        else:
            picture = heatmap_figure(rgb, _map_values(record), title,
                                     cbar_label=_CBAR_LABELS.get(record.kind, 'weight'),
                                     alpha=alpha)
        figures.append(dict(role='fla' if record.kind == 'fla' else 'map',
                            name=_file_name(i, record)[:-4], record=i,
                            title=title.replace('\n', ' '), image=picture))
    if spatial and 'spatial_maps' in roles:
        shown = spatial[:MAX_OVERVIEW_MAPS]
        more = f' (first {len(shown)} of {len(spatial)})' if len(shown) < len(spatial) else ''
        what = ', '.join(_OVERVIEW_WORDS[k] for k in spatial_kinds)
        title = f'{result.model}: {what} over the image{more}'
        figures.append(dict(role='spatial_maps', name='spatial_maps', title=title,
                            image=heatmap_grid_figure(rgb, shown, title, alpha)))
    if channel and 'channel_gates' in roles:
        shown = channel[:MAX_OVERVIEW_MAPS]
        more = f' (first {len(shown)} of {len(channel)})' if len(shown) < len(channel) else ''
        title = (f'{result.model}: channel gates, sorted; red = the '
                 f'strongest channels{more}')
        figures.append(dict(role='channel_gates', name='channel_gates', title=title,
                            image=channel_gates_figure(shown, title)))
    return figures


def png_text(result: AttentionAnalysis, title: str) -> Dict[str, str]:
    """The PNG text chunks of a figure of ``result``."""
    return {'Title': title, 'Software': 'mmseg_attn', 'model': result.model,
            'class_name': result.class_name, 'class_id': str(result.class_id),
            'cam_layer': result.cam_layer}


def visualize_attention(model: nn.Module,
                        image: np.ndarray,
                        out_dir: str,
                        class_id: Optional[int] = None,
                        cam_layer: Optional[str] = None,
                        cam_index: Optional[int] = None,
                        alpha: float = 0.5,
                        chart_size: Sequence[int] = (800, 400),
                        fla_size: Sequence[int] = (1000, 700),
                        class_name: Optional[str] = None,
                        meta: Optional[dict] = None,
                        name: Optional[str] = None,
                        colors: Optional[int] = None,
                        per_map: bool = True) -> dict:
    """Draw every attention map of the model on ``image``, a prediction and a Grad-CAM.

    Files in ``out_dir`` (``NN`` is the order in which the maps were
    computed):

    - ``panel.png``: input, prediction in the dataset palette (legend with
      the share of each class) and Grad-CAM of the chosen class, titled with
      the model, class and layer;
    - ``gradcam_class<k>.png``: the same Grad-CAM alone, with its colour bar;
    - ``spatial_maps.png``: every spatial map (CBAM / SAR spatial attention,
      pixel attention and AFF / iAFF fusion weights averaged over channels)
      over the image, each with its colour bar (at most
      :data:`MAX_OVERVIEW_MAPS`);
    - ``channel_gates.png``: every channel gate (SE, CBAM channel, ARM, FFM)
      as a sorted curve with the strongest channels marked;
    - ``NN_<kind>_<block>.png``: each map on its own (``channel``: the sorted
      curve, ``chart_size``; ``fla``: row and column attention, ``fla_size``;
      else the map over the image);
    - ``attention_maps.json``: what each file shows.

    Every PNG carries its title, the model and the Grad-CAM class as PNG
    text chunks.

    Args:
        model (nn.Module): The segmentor in eval mode.
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        out_dir (str): Output folder (created).
        class_id (int, optional): Class of the Grad-CAM. Defaults to None.
        cam_layer (str, optional): Module path of the Grad-CAM target.
            Defaults to None, meaning the decode head's input.
        cam_index (int, optional): Element of a tuple output. Defaults to None.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        chart_size (Sequence[int]): ``(width, height)`` of a channel-gate
            figure. Defaults to (800, 400).
        fla_size (Sequence[int]): ``(width, height)`` of an FLA figure.
            Defaults to (1000, 700).
        class_name (str, optional): Class of the Grad-CAM by name. Defaults
            to None; with neither, the most frequent predicted foreground
            class.
        meta (dict, optional): ``classes`` and ``palette``. Defaults to None.
        name (str, optional): Model name for titles. Defaults to None.
        colors (int, optional): Write 8-bit palette PNGs of this many
            colours. Defaults to None (RGB).
        per_map (bool): Also write one file per spatial map and channel
            gate (``NN_<kind>_<block>.png``; FLA figures are always
            written). Defaults to True.

    Returns:
        dict: The content of ``attention_maps.json`` (``file`` of a map is
        None when its own file was not written).
    """
    os.makedirs(out_dir, exist_ok=True)
    result = analyze(model, image, class_id, class_name, cam_layer, cam_index, meta, name)
    figures = attention_figures(result, alpha, chart_size, fla_size, per_map)
    rgb = np.ascontiguousarray(image[..., ::-1])
    cam_file = f'gradcam_class{result.class_id}.png'
    cam_title = (f'{result.model}: Grad-CAM of "{result.class_name}" (id {result.class_id}) '
                 f'at {result.cam_layer}')
    figures.append(dict(role='gradcam', name=cam_file[:-4], title=cam_title,
                        image=heatmap_figure(rgb, normalize_map(result.cam), cam_title,
                                             (0, 1), 'Grad-CAM (normalised)', alpha)))
    files, maps = {}, [None] * len(result.records)
    for figure in figures:
        file = figure['name'] + '.png'
        save_png(osp.join(out_dir, file), figure['image'], png_text(result, figure['title']),
                 colors)
        if figure['role'] in ('map', 'fla'):
            maps[figure['record']] = file
        else:
            files[figure['role']] = file
    entries = []
    for record, info, file in zip(result.records, result.summary, maps):
        entry = dict(info, file=file, label=record.label, title=describe_record(record)[0])
        values = record.data if record.kind == 'channel' else (
            _map_values(record) if record.kind != 'fla' else None)
        if values is not None:
            entry.update(min=float(values.min()), max=float(values.max()),
                         mean=float(values.mean()))
        if record.kind == 'channel':
            entry['strongest_channels'] = [int(c) for c in np.argsort(-values)[:5]]
        entries.append(entry)
    shares = {int(k): int(c) for k, c in zip(*np.unique(result.pred, return_counts=True))}
    total = sum(shares.values())
    index = dict(
        model=result.model,
        image_shape=list(image.shape[:2]),
        classes=result.classes,
        predicted_classes=[dict(class_id=k, class_name=result.classes[k],
                                share=round(c / total, 4))
                           for k, c in sorted(shares.items(), key=lambda kv: -kv[1])],
        files=files,
        maps=entries,
        unsupported_blocks=result.unsupported,
        gradcam=dict(result.cam_info, file=cam_file))
    with open(osp.join(out_dir, 'attention_maps.json'), 'w') as f:
        json.dump(index, f, indent=2)
    return index


def compare_models(models: Sequence[Tuple[str, nn.Module]],
                   image: np.ndarray,
                   out_file: str,
                   class_id: Optional[int] = None,
                   class_name: Optional[str] = None,
                   cam_layers: Optional[Sequence[Optional[str]]] = None,
                   alpha: float = 0.5,
                   colors: Optional[int] = None) -> dict:
    """The same image through several models side by side (a row per model).

    The Grad-CAM class is the same for every model: the one given, else the
    most frequent foreground class predicted by the FIRST model. The
    models must share their classes.

    Args:
        models (Sequence[tuple]): ``(name, segmentor)`` pairs, in eval mode.
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        out_file (str): The PNG to write.
        class_id (int, optional): Grad-CAM class. Defaults to None.
        class_name (str, optional): The same by name. Defaults to None.
        cam_layers (Sequence[str | None], optional): Grad-CAM target per
            model. Defaults to None (each model's decode head input).
        alpha (float): Heatmap opacity. Defaults to 0.5.
        colors (int, optional): Write an 8-bit palette PNG. Defaults to None.

    Returns:
        dict: ``file``, ``class_id``, ``class_name`` and per model ``name``,
        ``cam_layer``.
    """
    if len(models) < 2:
        raise ValueError(f'models must hold at least two (name, model) pairs, '
                         f'got {len(models)}')
    cam_layers = list(cam_layers) if cam_layers is not None else [None] * len(models)
    if len(cam_layers) != len(models):
        raise ValueError(f'cam_layers must hold one entry per model ({len(models)}), '
                         f'got {len(cam_layers)}')
    results = []
    for (name, model), layer in zip(models, cam_layers):
        if results:
            class_id, class_name = results[0].class_id, None
            if len(_meta_of(_unwrap(model), None)['classes']) != len(results[0].classes):
                raise ValueError(f'model {name!r} predicts a different number of classes '
                                 f'than {results[0].model!r}')
        results.append(analyze(model, image, class_id, class_name, layer, None, None, name))
    first = results[0]
    rows = [dict(name=r.model, pred=r.pred, cam=r.cam, cam_layer=r.cam_where) for r in results]
    picture = comparison_figure(np.ascontiguousarray(image[..., ::-1]), rows, first.classes,
                                first.palette, first.class_id, alpha)
    title = ' vs '.join(r.model for r in results) + f': Grad-CAM of "{first.class_name}"'
    out_dir = osp.dirname(out_file)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    save_png(out_file, picture, dict(png_text(first, title), model=' | '.join(
        r.model for r in results)), colors)
    return dict(file=osp.basename(out_file), class_id=first.class_id,
                class_name=first.class_name,
                models=[dict(name=r.model, cam_layer=r.cam_layer) for r in results])


def visualize_comparison(models: Sequence[Tuple[Optional[str], nn.Module]],
                         image: np.ndarray,
                         out_dir: str,
                         class_id: Optional[int] = None,
                         class_name: Optional[str] = None,
                         cam_layer: Optional[str] = None,
                         cam_index: Optional[int] = None,
                         **kwargs) -> dict:
    """:func:`visualize_attention` of the first model plus ``comparison.png``.

    ``comparison.png`` shows the image through both models, one row each
    (input, prediction, Grad-CAM of the same class: the one given, else the
    first model's default; see :func:`compare_models`);
    ``attention_maps.json`` gets a ``comparison`` entry.

    Args:
        models (Sequence[tuple]): Two ``(name, segmentor)`` pairs; a None
            name means the config file name (made unique).
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        out_dir (str): Output folder.
        class_id (int, optional): Grad-CAM class. Defaults to None.
        class_name (str, optional): The same by name. Defaults to None.
        cam_layer (str, optional): Grad-CAM target of the FIRST model.
            Defaults to None.
        cam_index (int, optional): Element of its tuple output. Defaults to None.
        **kwargs: ``alpha``, ``chart_size``, ``fla_size``, ``colors``,
            ``per_map`` of :func:`visualize_attention`.

    Returns:
        dict: The content of ``out_dir/attention_maps.json``.
    """
    if len(models) != 2:
        raise ValueError(f'models must hold two (name, model) pairs, got {len(models)}')
    (name, model), (name2, other) = models
    index = visualize_attention(model, image, out_dir, class_id, cam_layer, cam_index,
                                class_name=class_name, name=name, **kwargs)
    if name2 is None:
        name2 = model_name(getattr(_unwrap(other), 'cfg', None))
        if name2 == index['model']:
            name2 += ' (2)'
    result = compare_models([(index['model'], model), (name2, other)], image,
                            osp.join(out_dir, 'comparison.png'),
                            class_id=index['gradcam']['class_id'],
                            cam_layers=[cam_layer, None], alpha=kwargs.get('alpha', 0.5),
                            colors=kwargs.get('colors'))
    index['comparison'] = result
    index['files']['comparison'] = result['file']
    with open(osp.join(out_dir, 'attention_maps.json'), 'w') as f:
        json.dump(index, f, indent=2)
    return index
