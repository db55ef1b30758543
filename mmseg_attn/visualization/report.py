# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention pictures written to files, with a JSON report of what each shows.

:func:`visualize_attention` draws everything about one model on one image
into a folder; :func:`compare_models` draws the same image through several
models side by side; :func:`visualize_comparison` does both.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch.nn as nn

from mmseg_attn.security.atomic import atomic_write_text

from .analysis import AttentionAnalysis, analyze, describe_record, model_meta, unwrap
from .draw import comparison_figure, heatmap_figure, normalize_map, save_png
from .figures import attention_figures, map_values
from .meta import model_name

__all__ = ['compare_models', 'png_text', 'visualize_attention', 'visualize_comparison']


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
            map_values(record) if record.kind != 'fla' else None)
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
    atomic_write_text(json.dumps(index, indent=2), osp.join(out_dir, 'attention_maps.json'))
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
            if len(model_meta(unwrap(model), None)['classes']) != len(results[0].classes):
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
        name2 = model_name(getattr(unwrap(other), 'cfg', None))
        if name2 == index['model']:
            name2 += ' (2)'
    result = compare_models([(index['model'], model), (name2, other)], image,
                            osp.join(out_dir, 'comparison.png'),
                            class_id=index['gradcam']['class_id'],
                            cam_layers=[cam_layer, None], alpha=kwargs.get('alpha', 0.5),
                            colors=kwargs.get('colors'))
    index['comparison'] = result
    index['files']['comparison'] = result['file']
    atomic_write_text(json.dumps(index, indent=2), osp.join(out_dir, 'attention_maps.json'))
    return index
