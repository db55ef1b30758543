# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The figures of an :class:`~.analysis.AttentionAnalysis` (drawn, not written)."""
import re
from typing import List, Optional, Sequence

import numpy as np

from .analysis import AttentionAnalysis, describe_record
from .draw import (
    channel_gate_figure,
    channel_gates_figure,
    fla_figure,
    heatmap_figure,
    heatmap_grid_figure,
    panel_figure,
)
from .recorder import AttentionRecord

__all__ = ['MAX_OVERVIEW_MAPS', 'attention_figures', 'map_file_name', 'map_values']

#: At most this many maps go into the overview figures (the per-map files hold all).
MAX_OVERVIEW_MAPS = 24

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


def _safe(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_') or 'x'


def map_file_name(i: int, record: AttentionRecord) -> str:
    return (f'{i:02d}_{record.kind}_{_safe(record.name)}'
            + (f'_call{record.call}' if record.call else '') + '.png')


def map_values(record: AttentionRecord) -> np.ndarray:
    """The spatial map of a record (mean over channels for pixel and fusion weights)."""
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
            values = map_values(record)
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
            picture = heatmap_figure(rgb, map_values(record), title,
                                     cbar_label=_CBAR_LABELS.get(record.kind, 'weight'),
                                     alpha=alpha)
        figures.append(dict(role='fla' if record.kind == 'fla' else 'map',
                            name=map_file_name(i, record)[:-4], record=i,
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
