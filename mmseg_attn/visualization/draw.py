# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Figures of attention maps, predictions and Grad-CAM (matplotlib, Agg canvas).

Every figure is built on its own :class:`matplotlib.figure.Figure` with an
Agg canvas (no pyplot state, no display needed) and returned as an RGB
``uint8`` array; :func:`save_png` writes it with text metadata (title,
class, model) in the PNG.

Conventions: images are RGB ``(H, W, 3)`` uint8; maps ``(h, w)`` are
resized bilinearly to the image; every heatmap has a colour bar in the
map's own units.
"""
import io
import math
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

from mmseg_attn.security.atomic import atomic_write_bytes

__all__ = [
    'channel_gate_figure', 'channel_gates_figure', 'colorize', 'comparison_figure',
    'fla_figure', 'figure_to_array', 'heatmap_figure', 'heatmap_grid_figure',
    'normalize_map', 'panel_figure', 'save_png'
]

#: Colormap of every heatmap over an image (as in the Grad-CAM and CBAM papers).
HEATMAP_CMAP = 'jet'
#: How many of the strongest channels a channel-gate plot marks.
TOP_CHANNELS = 5


def _new_figure(width_in: float, height_in: float, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def figure_to_array(fig) -> np.ndarray:
    """Render a figure to an RGB ``uint8`` array."""
    fig.canvas.draw()
    return np.ascontiguousarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])


def save_png(path: str, rgb: np.ndarray, text: Optional[Dict[str, str]] = None,
             colors: Optional[int] = None) -> None:
    """Write an RGB picture as PNG with ``text`` as tEXt chunks, atomically
    (a failed write leaves an existing ``path`` as it was).

    Args:
        path (str): Output file.
        rgb (np.ndarray): ``(H, W, 3)`` uint8 RGB picture.
        text (dict, optional): Metadata, e.g. ``{'Title': ..., 'class_name':
            ...}``. Defaults to None.
        colors (int, optional): Quantise to this many colours (an 8-bit
            palette PNG, several times smaller). Defaults to None (RGB).
    """
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), 'RGB')
    if colors:
        image = image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(str(key), str(value))
    data = io.BytesIO()
    image.save(data, format='PNG', pnginfo=info, optimize=True)
    atomic_write_bytes(data.getvalue(), path)


def normalize_map(values: np.ndarray, value_range: Optional[Tuple[float, float]] = None
                  ) -> np.ndarray:
    """Scale to ``[0, 1]`` by ``value_range`` (default: the map's min and max)."""
    values = np.asarray(values, dtype=np.float32)
    low, high = value_range if value_range is not None else (values.min(), values.max())
    if high - low < 1e-12:
        return np.zeros_like(values) if value_range is None else np.clip(
            (values - low), 0, 1)
    return np.clip((values - low) / (high - low), 0, 1)


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """RGB picture of a label map; labels outside the palette (255) are black."""
    palette = np.asarray(palette, np.uint8).reshape(-1, 3)
    label = np.asarray(label)
    out = np.zeros((*label.shape, 3), np.uint8)
    valid = (label >= 0) & (label < len(palette))
    out[valid] = palette[label[valid]]
    return out


def _resize(values: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    h, w = shape
    values = np.asarray(values, np.float32)
    if values.shape == (h, w):
        return values
    return cv2.resize(values, (w, h), interpolation=cv2.INTER_LINEAR)


def _limits(values: np.ndarray, value_range=None) -> Tuple[float, float]:
    if value_range is not None:
        return float(value_range[0]), float(value_range[1])
    low, high = float(np.min(values)), float(np.max(values))
    if high - low < 1e-6:  # a constant map: a narrow band around it, not noise stretched
        low, high = low - 0.01, high + 0.01
    return low, high


def _axis_size(image_shape, width_in: float = 4.0) -> Tuple[float, float]:
    h, w = image_shape[:2]
    return width_in, min(max(width_in * h / w, 1.2), 2.2 * width_in)


def _shorten(text: str, limit: int = 56) -> str:
    if len(text) <= limit:
        return text
    keep = limit - 3
    return text[:keep // 3] + '...' + text[-(keep - keep // 3):]


def _draw_overlay(fig, ax, image: np.ndarray, values: np.ndarray, title: str,
                  value_range=None, cbar_label: str = '', alpha: float = 0.5,
                  fontsize: float = 8):
    """Image under a heatmap, with a colour bar in the map's own units."""
    ax.imshow(image)
    low, high = _limits(values, value_range)
    im = ax.imshow(_resize(values, image.shape[:2]), cmap=HEATMAP_CMAP, vmin=low, vmax=high,
                   alpha=alpha, interpolation='bilinear')
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    bar.solids.set_alpha(1)
    bar.ax.tick_params(labelsize=fontsize - 1)
    if cbar_label:
        bar.set_label(cbar_label, fontsize=fontsize - 1)
    return im


def _class_legend(fig, labels: Sequence[int], classes: Sequence[str], palette,
                  shares: Optional[Dict[int, float]] = None, fontsize: float = 8):
    from matplotlib.patches import Patch
    handles = []
    for k in labels:
        name = classes[k] if k < len(classes) else f'class {k}'
        if shares is not None:
            name = f'{name} {100 * shares[k]:.0f}%' if shares[k] >= 0.005 else f'{name} <1%'
        handles.append(Patch(facecolor=np.asarray(palette[k]) / 255, edgecolor='0.3',
                             label=name))
    if handles:
        fig.legend(handles=handles, loc='outside lower center', ncol=min(len(handles), 8),
                   fontsize=fontsize, frameon=False, handlelength=1.2, columnspacing=1.0)


def _shares(pred: np.ndarray) -> Dict[int, float]:
    labels, counts = np.unique(np.asarray(pred).reshape(-1), return_counts=True)
    total = counts.sum()
    return {int(k): c / total for k, c in zip(labels, counts)}


def panel_figure(image: np.ndarray, pred: np.ndarray, cam: np.ndarray,
                 classes: Sequence[str], palette, class_id: int, model: str,
                 cam_layer: str, alpha: float = 0.5, dpi: int = 100) -> np.ndarray:
    """Input | prediction (dataset palette, legend) | Grad-CAM of one class.

    Args:
        image (np.ndarray): RGB image.
        pred (np.ndarray): ``(H, W)`` predicted labels.
        cam (np.ndarray): ``(h, w)`` Grad-CAM (any scale; shown normalised).
        classes (Sequence[str]): Class names.
        palette: RGB colour of each class.
        class_id (int): Class of the Grad-CAM.
        model (str): Model name for the title.
        cam_layer (str): Where the Grad-CAM was taken, for the title.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        dpi (int): Resolution. Defaults to 100.

    Returns:
        np.ndarray: RGB picture.
    """
    ax_w, ax_h = _axis_size(image.shape)
    fig = _new_figure(3 * ax_w + 0.8, ax_h + 1.3, dpi)
    axes = fig.subplots(1, 3)
    axes[0].imshow(image)
    axes[0].set_title('input', fontsize=9)
    axes[1].imshow(colorize(pred, palette))
    axes[1].set_title('prediction', fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    _draw_overlay(fig, axes[2], image, normalize_map(cam), f'Grad-CAM of "{classes[class_id]}"'
                  f'\nat {cam_layer}', (0, 1), 'Grad-CAM (normalised)', alpha, fontsize=9)
    shares = _shares(pred)
    _class_legend(fig, sorted(shares, key=lambda k: -shares[k]), classes, palette, shares)
    fig.suptitle(f'{model}: prediction and Grad-CAM of class "{classes[class_id]}" '
                 f'(id {class_id})', fontsize=10)
    return figure_to_array(fig)


def comparison_figure(image: np.ndarray, rows: Sequence[dict], classes: Sequence[str],
                      palette, class_id: int, alpha: float = 0.5,
                      dpi: int = 100) -> np.ndarray:
    """The same image through several models: one row per model.

    Args:
        image (np.ndarray): RGB image.
        rows (Sequence[dict]): Per model: ``name``, ``pred (H, W)``,
            ``cam (h, w)`` and ``cam_layer``.
        classes (Sequence[str]): Class names (shared by the models).
        palette: RGB colour of each class.
        class_id (int): The Grad-CAM class (the same for every row).
        alpha (float): Heatmap opacity. Defaults to 0.5.
        dpi (int): Resolution. Defaults to 100.

    Returns:
        np.ndarray: RGB picture.
    """
    ax_w, ax_h = _axis_size(image.shape, 3.6)
    fig = _new_figure(3 * ax_w + 1.2, len(rows) * (ax_h + 0.55) + 1.2, dpi)
    axes = np.asarray(fig.subplots(len(rows), 3)).reshape(len(rows), 3)
    shares: Dict[int, float] = {}
    for r, row in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_ylabel(_shorten(row['name'], 40), fontsize=9)
        axes[r, 1].imshow(colorize(row['pred'], palette))
        for ax in axes[r, :2]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_title('input' if r == 0 else '', fontsize=9)
        axes[r, 1].set_title(f'prediction: {row["name"]}', fontsize=8)
        _draw_overlay(fig, axes[r, 2], image, normalize_map(row['cam']),
                      f'Grad-CAM of "{classes[class_id]}"\nat {row["cam_layer"]}', (0, 1),
                      'normalised', alpha)
        for k, v in _shares(row['pred']).items():
            shares[k] = max(shares.get(k, 0.0), v)
    _class_legend(fig, sorted(shares, key=lambda k: -shares[k]), classes, palette)
    names = ' vs '.join(row['name'] for row in rows)
    fig.suptitle(f'{names}\nthe same image, Grad-CAM of class "{classes[class_id]}" '
                 f'(id {class_id})', fontsize=10)
    return figure_to_array(fig)


def heatmap_figure(image: np.ndarray, values: np.ndarray, title: str,
                   value_range=None, cbar_label: str = 'weight', alpha: float = 0.5,
                   dpi: int = 100) -> np.ndarray:
    """One map over the image with a colour bar.

    Args:
        image (np.ndarray): RGB image.
        values (np.ndarray): ``(h, w)`` map.
        title (str): Title (may hold line breaks).
        value_range (tuple, optional): Colour bar limits. Defaults to None
            (the map's own min..max).
        cbar_label (str): Colour bar label. Defaults to 'weight'.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        dpi (int): Resolution. Defaults to 100.
    """
    ax_w, ax_h = _axis_size(image.shape, 5.0)
    fig = _new_figure(ax_w + 1.0, ax_h + 0.3 + 0.18 * (title.count('\n') + 1), dpi)
    ax = fig.subplots(1, 1)
    _draw_overlay(fig, ax, image, values, title, value_range, cbar_label, alpha)
    return figure_to_array(fig)


def heatmap_grid_figure(image: np.ndarray, items: Sequence[dict], title: str,
                        alpha: float = 0.5, ncols: int = 3, dpi: int = 100) -> np.ndarray:
    """Several maps over the image, each with its own colour bar.

    Args:
        image (np.ndarray): RGB image.
        items (Sequence[dict]): Per map: ``values (h, w)``, ``title`` and
            optionally ``value_range``, ``cbar_label``.
        title (str): Figure title.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        ncols (int): Maps per row. Defaults to 3.
        dpi (int): Resolution. Defaults to 100.
    """
    ncols = max(1, min(ncols, len(items)))
    nrows = math.ceil(len(items) / ncols)
    ax_w, ax_h = _axis_size(image.shape, 3.6)
    fig = _new_figure(ncols * (ax_w + 0.8), nrows * (ax_h + 0.5) + 0.5, dpi)
    axes = np.asarray(fig.subplots(nrows, ncols)).reshape(-1)
    for ax, item in zip(axes, items):
        _draw_overlay(fig, ax, image, item['values'], item['title'],
                      item.get('value_range'), item.get('cbar_label', 'weight'), alpha,
                      fontsize=7.5)
    for ax in axes[len(items):]:
        ax.axis('off')
    fig.suptitle(title, fontsize=10)
    return figure_to_array(fig)


def _plot_gate(ax, weights: np.ndarray, title: str, fontsize: float = 8,
               top: int = TOP_CHANNELS) -> None:
    """Sorted channel weights as a curve, the strongest channels marked."""
    weights = np.asarray(weights, np.float32).reshape(-1)
    order = np.argsort(-weights, kind='stable')
    ranked = weights[order]
    x = np.arange(len(ranked))
    ax.fill_between(x, ranked, color='tab:blue', alpha=0.25, linewidth=0)
    ax.plot(x, ranked, color='tab:blue', linewidth=1.2)
    ax.axhline(weights.mean(), color='0.4', linestyle='--', linewidth=0.8)
    ax.text(len(ranked) - 1, weights.mean(), f'mean {weights.mean():.2f}', ha='right',
            va='bottom', fontsize=fontsize - 1.5, color='0.3')
    k = min(top, len(ranked))
    ax.plot(x[:k], ranked[:k], 'o', color='tab:red', markersize=4)
    marked = ', '.join(f'#{c}' for c in order[:k])
    ax.text(0.99, 0.95, f'strongest channels: {marked}\nweights {ranked.min():.3f} to '
            f'{ranked.max():.3f}', transform=ax.transAxes, ha='right', va='top',
            fontsize=fontsize - 1, color='tab:red')
    low = min(0.0, float(ranked.min()))
    high = max(1.0, float(ranked.max())) if ranked.max() <= 1.0 else float(ranked.max()) * 1.05
    ax.set_ylim(low, high * 1.3)
    if high <= 1.0 and low >= 0.0:  # gate weights: ticks over [0, 1] only
        ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlim(-0.5, max(len(ranked) - 0.5, 0.5))
    ax.set_xlabel(f'channels sorted by weight ({len(ranked)})', fontsize=fontsize - 1)
    ax.set_ylabel('gate weight', fontsize=fontsize - 1)
    ax.tick_params(labelsize=fontsize - 1.5)
    ax.set_title(title, fontsize=fontsize)


def channel_gate_figure(weights: np.ndarray, title: str, size: Sequence[int] = (800, 400),
                        dpi: int = 100) -> np.ndarray:
    """One channel gate as a sorted curve with its strongest channels marked.

    Args:
        weights (np.ndarray): ``(C,)`` gate outputs.
        title (str): Title.
        size (Sequence[int]): ``(width, height)`` in pixels. Defaults to (800, 400).
        dpi (int): Resolution. Defaults to 100.
    """
    width, height = size
    fig = _new_figure(width / dpi, height / dpi, dpi)
    _plot_gate(fig.subplots(1, 1), weights, title, fontsize=8)
    return figure_to_array(fig)


def channel_gates_figure(items: Sequence[Tuple[str, np.ndarray]], title: str,
                         ncols: int = 2, dpi: int = 100) -> np.ndarray:
    """Every channel gate of a model, one small sorted curve each.

    Args:
        items (Sequence[tuple]): ``(title, weights (C,))`` per gate.
        title (str): Figure title.
        ncols (int): Plots per row. Defaults to 2.
        dpi (int): Resolution. Defaults to 100.
    """
    ncols = max(1, min(ncols, len(items)))
    nrows = math.ceil(len(items) / ncols)
    fig = _new_figure(ncols * 5.0, nrows * 2.0 + 0.5, dpi)
    axes = np.asarray(fig.subplots(nrows, ncols)).reshape(-1)
    for ax, (name, weights) in zip(axes, items):
        _plot_gate(ax, weights, name, fontsize=7.5)
    for ax in axes[len(items):]:
        ax.axis('off')
    fig.suptitle(title, fontsize=10)
    return figure_to_array(fig)


def fla_figure(image: np.ndarray, data: dict, title: str, size: Sequence[int] = (1000, 700),
               alpha: float = 0.5, dpi: int = 100) -> np.ndarray:
    """Row and column attention of a Fully Attentional block.

    Top: how peaked the attention of each image column and each image row is
    (``1 - entropy / log C``: 0 uniform over the channels, 1 on one
    channel), over the image. Bottom: the ``C x C`` attention (query channel
    x key channel) averaged over the columns and over the rows.

    Args:
        image (np.ndarray): RGB image.
        data (dict): :attr:`AttentionRecord.data` of an ``'fla'`` record.
        title (str): Figure title.
        size (Sequence[int]): ``(width, height)`` in pixels. Defaults to (1000, 700).
        alpha (float): Heatmap opacity. Defaults to 0.5.
        dpi (int): Resolution. Defaults to 100.
    """
    width, height = size
    fig = _new_figure(width / dpi, height / dpi, dpi)
    axes = fig.subplots(2, 2)
    col = np.asarray(data['col_focus'], np.float32)
    row = np.asarray(data['row_focus'], np.float32)
    focus_range = _limits(np.concatenate([col, row]))
    _draw_overlay(fig, axes[0, 0], image, np.broadcast_to(col[None, :], (len(row), len(col))),
                  f'column attention ({len(col)} columns):\nhow peaked, per column',
                  focus_range, '1 - entropy / log C', alpha)
    _draw_overlay(fig, axes[0, 1], image, np.broadcast_to(row[:, None], (len(row), len(col))),
                  f'row attention ({len(row)} rows):\nhow peaked, per row', focus_range,
                  '1 - entropy / log C', alpha)
    for ax, key, name in ((axes[1, 0], 'col_attention', 'columns'),
                          (axes[1, 1], 'row_attention', 'rows')):
        matrix = np.asarray(data[key], np.float32)
        im = ax.imshow(matrix, cmap='viridis', interpolation='nearest')
        ax.set_title(f'C x C attention averaged over the {name}', fontsize=8)
        ax.set_xlabel(f'key channel ({matrix.shape[1]})', fontsize=7)
        ax.set_ylabel('query channel', fontsize=7)
        ax.tick_params(labelsize=6)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        bar.ax.tick_params(labelsize=6)
        bar.set_label('attention (rows sum to 1)', fontsize=7)
    fig.suptitle(f'{title}\ngamma = {data["gamma"]:.4g} (weight of the attention output '
                 'added to the input)', fontsize=9)
    return figure_to_array(fig)
