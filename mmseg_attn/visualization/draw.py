# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Pictures of attention maps: heatmaps over the image, bar charts, FLA summaries."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['channel_bar_chart', 'fla_summary', 'normalize_map', 'overlay_heatmap']


def _pyplot():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def normalize_map(values: np.ndarray, value_range: Optional[Tuple[float, float]] = None
                  ) -> np.ndarray:
    """Scale to ``[0, 1]`` by ``value_range`` (default: the map's min and max)."""
    values = np.asarray(values, dtype=np.float32)
    low, high = value_range if value_range is not None else (values.min(), values.max())
    if high - low < 1e-12:
        return np.zeros_like(values) if value_range is None else np.clip(
            (values - low), 0, 1)
    return np.clip((values - low) / (high - low), 0, 1)


def overlay_heatmap(image: np.ndarray,
                    heatmap: np.ndarray,
                    alpha: float = 0.5,
                    value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
                    colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a colour-mapped ``(h, w)`` map, resized bilinearly, over an image.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        heatmap (np.ndarray): ``(h, w)`` map.
        alpha (float): Weight of the heatmap. Defaults to 0.5.
        value_range (tuple, optional): Values mapped to the two ends of the
            colormap; None stretches the map's own min..max (for maps that are
            not gate weights in [0, 1], e.g. Grad-CAM). Defaults to (0, 1).
        colormap (int): An OpenCV colormap. Defaults to ``COLORMAP_JET``.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 BGR picture.
    """
    h, w = image.shape[:2]
    scaled = normalize_map(heatmap, value_range)
    scaled = cv2.resize(scaled, (w, h), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap((scaled * 255).astype(np.uint8), colormap)
    return cv2.addWeighted(image, 1 - alpha, colored, alpha, 0)


def _figure_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def channel_bar_chart(weights: np.ndarray, title: str,
                      size: Sequence[int] = (800, 400)) -> np.ndarray:
    """A bar chart of channel weights.

    Args:
        weights (np.ndarray): ``(C,)`` weights (gate outputs).
        title (str): Title of the chart.
        size (Sequence[int]): ``(width, height)`` in pixels.
            Defaults to (800, 400).

    Returns:
        np.ndarray: ``(height, width, 3)`` uint8 BGR picture.
    """
    plt = _pyplot()
    width, height = size
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    ax.bar(np.arange(len(weights)), weights, width=1.0, color='tab:blue')
    ax.set_xlim(-0.5, len(weights) - 0.5)
    low, high = float(weights.min()), float(weights.max())
    ax.set_ylim(min(0.0, low), max(1.0, high))
    ax.set_xlabel(f'channel ({len(weights)})')
    ax.set_ylabel('weight')
    ax.set_title(f'{title}\nmean {weights.mean():.3f}, min {low:.3f}, max {high:.3f}',
                 fontsize=8)
    fig.tight_layout()
    picture = _figure_to_array(fig)
    plt.close(fig)
    return picture


def fla_summary(record_data: dict, title: str, image: Optional[np.ndarray] = None,
                size: Sequence[int] = (1000, 700)) -> np.ndarray:
    """The per-row/column summary of a Fully Attentional block's attention.

    Top: the ``C x C`` attention averaged over columns and over rows. Bottom:
    for every column and row, how peaked its attention is (``1 - entropy /
    log C``: 0 uniform, 1 one-hot), as a profile and, over the image, as
    ``focus_row[h] + focus_col[w]``.

    Args:
        record_data (dict): :attr:`AttentionRecord.data` of an ``'fla'`` record.
        title (str): Title of the figure.
        image (np.ndarray, optional): BGR image under the row + column
            map. Defaults to None (the map alone).
        size (Sequence[int]): ``(width, height)`` in pixels.
            Defaults to (1000, 700).

    Returns:
        np.ndarray: ``(height, width, 3)`` uint8 BGR picture.
    """
    plt = _pyplot()
    width, height = size
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    col_focus = np.asarray(record_data['col_focus'])
    row_focus = np.asarray(record_data['row_focus'])
    for i, (key, name) in enumerate((('col_attention', 'columns'), ('row_attention', 'rows'))):
        ax = fig.add_subplot(2, 2, i + 1)
        im = ax.imshow(record_data[key], cmap='viridis', interpolation='nearest')
        ax.set_title(f'C x C attention, mean over {name}', fontsize=8)
        ax.set_xlabel('key channel', fontsize=7)
        ax.set_ylabel('query channel', fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = fig.add_subplot(2, 2, 3)
    ax.plot(np.arange(len(col_focus)), col_focus, label=f'columns ({len(col_focus)})')
    ax.plot(np.arange(len(row_focus)), row_focus, label=f'rows ({len(row_focus)})')
    ax.set_xlabel('column / row index', fontsize=7)
    ax.set_ylabel('focus = 1 - H / log C', fontsize=7)
    ax.legend(fontsize=7)
    ax.set_title('how peaked each column / row attention is', fontsize=8)
    ax = fig.add_subplot(2, 2, 4)
    grid = row_focus[:, None] + col_focus[None, :]
    if image is not None:
        ax.imshow(cv2.cvtColor(overlay_heatmap(image, grid, value_range=None),
                               cv2.COLOR_BGR2RGB))
        ax.set_title('focus of row + column, over the image', fontsize=8)
    else:
        ax.imshow(grid, cmap='jet')
        ax.set_title('focus of row + column', fontsize=8)
    ax.axis('off')
    fig.suptitle(f'{title}  (gamma = {record_data["gamma"]:.4g})', fontsize=9)
    fig.tight_layout()
    picture = _figure_to_array(fig)
    plt.close(fig)
    return picture
