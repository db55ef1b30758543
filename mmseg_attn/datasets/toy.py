"""Synthetic toy datasets written in the real Cityscapes / ADE20K / VOC layouts.

The files land exactly where mmseg's stock dataset classes and configs
(``mmseg::_base_/datasets/cityscapes.py``, ``ade20k.py``, ``pascal_voc12.py``
and ``pascal_voc12_aug.py``) look for them, so only ``data_root`` changes.

Every image holds several objects whose class can be told apart by colour
(the dataset's own palette colour of the class), texture and shape, at varied
sizes and positions, over a textured background with small clutter shapes
that belong to the background class. Everything is deterministic from the
seed: image ``i`` of a split depends only on ``(seed, split, i)``.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = ['LAYOUTS', 'ToyLayout', 'make_toy_dataset', 'render_sample']

SHAPES = ('rectangle', 'ellipse', 'triangle', 'star')
TEXTURES = ('stripes', 'checker', 'dots', 'flat', 'gradient')

# Cityscapes trainId -> labelId (cityscapesscripts' labels.py).
_CITYSCAPES_TRAIN_TO_LABEL_ID = np.array(
    [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33], dtype=np.uint8)


def _metainfo(name: str) -> dict:
    from mmseg.datasets import ADE20KDataset, CityscapesDataset, PascalVOCDataset
    return {
        'cityscapes': CityscapesDataset,
        'ade20k': ADE20KDataset,
        'voc': PascalVOCDataset,
    }[name].METAINFO


@dataclass(frozen=True)
class ToyLayout:
    """How one dataset family is laid out on disk.

    Attributes:
        name (str): 'cityscapes', 'ade20k' or 'voc'.
        default_classes (tuple[str]): Object classes drawn by default.
        background (str | None): Class of the background pixels; ``None``
            means the "other" label 0 of ADE20K (ignored with
            ``reduce_zero_label``).
        default_size (tuple[int, int]): Image (height, width).
        data_root (str): Folder under the output directory that the stock
            config's ``data_root`` points at.
    """
    name: str
    default_classes: Tuple[str, ...]
    background: Optional[str]
    default_size: Tuple[int, int]
    data_root: str


LAYOUTS: Dict[str, ToyLayout] = {
    'cityscapes': ToyLayout('cityscapes', ('building', 'pole', 'traffic sign', 'vegetation',
                                           'sky', 'person', 'car'), 'road', (128, 256), ''),
    'ade20k': ToyLayout('ade20k', ('wall', 'floor', 'tree', 'sky', 'person', 'car', 'sofa',
                                   'table'), None, (128, 160), 'ADEChallengeData2016'),
    'voc': ToyLayout('voc', ('aeroplane', 'bird', 'car', 'cat', 'dog', 'person'), 'background',
                     (120, 160), osp.join('VOCdevkit', 'VOC2012')),
}


def _texture(kind: str, h: int, w: int, period: float, angle: float,
             rng: np.random.Generator) -> np.ndarray:
    """A texture pattern in about [-1, 1] of shape (h, w)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'stripes':
        t = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period + phase)
    elif kind == 'checker':
        t = ((np.floor(xx / period) + np.floor(yy / period)) % 2) * 2 - 1
    elif kind == 'dots':
        d = np.hypot((xx % period) - period / 2, (yy % period) - period / 2)
        t = np.where(d < period / 4, 1.0, -0.6)
    elif kind == 'gradient':
        t = (yy / max(h - 1, 1)) * 2 - 1
    else:  # flat
        t = np.zeros((h, w), np.float32)
    return t.astype(np.float32) + rng.normal(0, 0.15, (h, w)).astype(np.float32)


def _shape_mask(kind: str, h: int, w: int, cy: float, cx: float, size: float, aspect: float,
                rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    ry, rx = size * aspect / 2, size / aspect / 2
    if kind == 'rectangle':
        p0 = (int(cx - rx), int(cy - ry))
        p1 = (int(cx + rx), int(cy + ry))
        cv2.rectangle(mask, p0, p1, 1, thickness=-1)
    elif kind == 'ellipse':
        cv2.ellipse(mask, (int(cx), int(cy)), (max(int(rx), 1), max(int(ry), 1)),
                    float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    elif kind == 'triangle':
        rot = rng.uniform(0, 2 * np.pi)
        angles = rot + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    else:  # star: alternating outer/inner radius
        n = 5
        angles = rng.uniform(0, 2 * np.pi) + np.arange(2 * n) * np.pi / n
        radius = np.where(np.arange(2 * n) % 2 == 0, 1.0, 0.45)
        pts = np.stack([cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    return mask.astype(bool)


def render_sample(layout: ToyLayout, classes: Sequence[str], size: Tuple[int, int],
                  rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one image and its label map.

    Args:
        layout (ToyLayout): The dataset family (gives palette and class ids).
        classes (Sequence[str]): Object classes that may appear.
        size (tuple[int, int]): (height, width).
        rng (np.random.Generator): Source of randomness.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB image (H, W, 3) uint8 and the
        label map (H, W) uint8 in the dataset's own label values: trainIds
        for Cityscapes, 0 = other and 1..150 for ADE20K, 0..20 for VOC
        (borders not yet marked).
    """
    meta = _metainfo(layout.name)
    all_classes = list(meta['classes'])
    palette = meta['palette']
    offset = 1 if layout.name == 'ade20k' else 0  # ADE labels are 1-based
    h, w = size

    bg_id = all_classes.index(layout.background) if layout.background else None
    bg_color = np.array(palette[bg_id] if bg_id is not None else (120, 120, 120), np.float32)
    label = np.full((h, w), bg_id + offset if bg_id is not None else 0, np.uint8)
    bg = _texture('flat', h, w, 8, 0, rng)[..., None] * 25 + rng.normal(0, 6, (h, w, 1))
    image = bg_color[None, None] + bg

    # background clutter: small shapes in random dull colours, labelled background
    for _ in range(rng.integers(3, 7)):
        m = _shape_mask(SHAPES[rng.integers(len(SHAPES))], h, w, rng.uniform(0, h),
                        rng.uniform(0, w), rng.uniform(0.04, 0.09) * min(h, w),
                        rng.uniform(0.7, 1.4), rng)
        dull = bg_color * 0.6 + rng.uniform(0, 255, 3) * 0.4
        image[m] = dull

    for _ in range(rng.integers(3, 7)):
        cls_id = all_classes.index(classes[rng.integers(len(classes))])
        # a class is its palette colour, one shape and one texture
        shape = SHAPES[cls_id % len(SHAPES)]
        texture = TEXTURES[cls_id % len(TEXTURES)]
        m = _shape_mask(shape, h, w, rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w,
                        rng.uniform(0.18, 0.5) * min(h, w), rng.uniform(0.75, 1.33), rng)
        if not m.any():
            continue
        color = np.array(palette[cls_id], np.float32) + rng.uniform(-15, 15, 3)
        t = _texture(texture, h, w, period=4 + 2 * (cls_id % 3), angle=cls_id * 0.7, rng=rng)
        image[m] = color[None] + 45 * t[m][:, None]
        label[m] = cls_id + offset
    return np.clip(image, 0, 255).astype(np.uint8), label


def _voc_borders(label: np.ndarray, width: int = 1) -> np.ndarray:
    """Mark the boundaries between regions with 255, as VOC annotations do."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    edge = cv2.dilate(label, kernel) != cv2.erode(label, kernel)
    out = label.copy()
    out[edge] = 255
    return out


def _voc_palette() -> List[int]:
    palette = [c for rgb in _metainfo('voc')['palette'] for c in rgb]
    palette += [0] * (768 - len(palette))
    palette[255 * 3:255 * 3 + 3] = [224, 224, 192]  # VOC's border colour
    return palette


def _write_rgb(path: str, image: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith('.jpg') else []
    if not cv2.imwrite(path, image[..., ::-1], params):
        raise OSError(f'could not write image file {path}')


def _write_png(path: str, label: np.ndarray, palette: Optional[List[int]] = None) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(label, mode='L' if palette is None else 'P')
    if palette is not None:
        img.putpalette(palette)
    img.save(path)


def _write_cityscapes(root: str, split: str, i: int, image, label) -> str:
    city = ('aachen', 'bochum', 'bremen')[i % 3] if split == 'train' else \
        ('frankfurt', 'lindau', 'munster')[i % 3]
    stem = f'{city}_{i:06d}_000019'
    _write_rgb(osp.join(root, 'leftImg8bit', split, city, f'{stem}_leftImg8bit.png'), image)
    gt = osp.join(root, 'gtFine', split, city, stem)
    _write_png(f'{gt}_gtFine_labelTrainIds.png', label)
    label_ids = np.where(label == 255, 0, _CITYSCAPES_TRAIN_TO_LABEL_ID[np.minimum(label, 18)])
    _write_png(f'{gt}_gtFine_labelIds.png', label_ids.astype(np.uint8))
    color = np.array(_metainfo('cityscapes')['palette'], np.uint8)[np.minimum(label, 18)]
    _write_rgb(f'{gt}_gtFine_color.png', color)
    return stem


def _write_ade20k(root: str, split: str, i: int, image, label) -> str:
    folder, prefix = ('training', 'train') if split == 'train' else ('validation', 'val')
    stem = f'ADE_{prefix}_{i + 1:08d}'
    _write_rgb(osp.join(root, 'images', folder, f'{stem}.jpg'), image)
    _write_png(osp.join(root, 'annotations', folder, f'{stem}.png'), label)
    return stem


def _write_voc(root: str, split: str, i: int, image, label) -> str:
    stem = f'{2007 if split == "train" else 2008}_{i:06d}'
    _write_rgb(osp.join(root, 'JPEGImages', f'{stem}.jpg'), image)
    _write_png(osp.join(root, 'SegmentationClass', f'{stem}.png'), _voc_borders(label),
               _voc_palette())
    # SBD-style augmented labels carry no borders
    _write_png(osp.join(root, 'SegmentationClassAug', f'{stem}.png'), label)
    return stem


_WRITERS: Dict[str, Callable] = {
    'cityscapes': _write_cityscapes,
    'ade20k': _write_ade20k,
    'voc': _write_voc,
}


def make_toy_dataset(layout: str,
                     out_dir: str,
                     num_train: int = 40,
                     num_val: int = 10,
                     image_size: Optional[Tuple[int, int]] = None,
                     classes: Optional[Sequence[str]] = None,
                     seed: int = 0,
                     progress: Optional[bool] = None) -> str:
    """Write a toy dataset and return the ``data_root`` for the stock config.

    Args:
        layout (str): 'cityscapes', 'ade20k' or 'voc'.
        out_dir (str): Output folder. The stock configs' default roots are
            ``data/cityscapes``, ``data/ade`` and ``data`` respectively.
        num_train (int): Training images. Defaults to 40.
        num_val (int): Validation images. Defaults to 10.
        image_size (tuple[int, int], optional): (height, width). Defaults to
            the layout's size (Cityscapes 128x256, ADE20K 128x160, VOC 120x160).
        classes (Sequence[str], optional): Object classes to draw, by the
            dataset's class names. Defaults to the layout's subset.
        seed (int): Seed. Defaults to 0.
        progress (bool, optional): Show a progress bar; by default only for
            more than 200 images.

    Returns:
        str: The folder that the stock config's ``data_root`` should name.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {sorted(LAYOUTS)}, got {layout!r}')
    spec = LAYOUTS[layout]
    all_classes = list(_metainfo(layout)['classes'])
    classes = tuple(classes) if classes else spec.default_classes
    unknown = [c for c in classes if c not in all_classes]
    if unknown:
        raise ValueError(f'classes {unknown} are not {layout} classes; choose from {all_classes}')
    if spec.background in classes:
        raise ValueError(f'{spec.background!r} is the background class of the toy {layout} '
                         'dataset and cannot be an object class')
    size = tuple(image_size) if image_size else spec.default_size
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f'image_size must be (height, width) with both >= 16, got {image_size}')
    for name, n in (('num_train', num_train), ('num_val', num_val)):
        if n < 1:
            raise ValueError(f'{name} must be >= 1, got {n}')

    root = osp.join(out_dir, spec.data_root)
    jobs = [(split, i) for split, n in (('train', num_train), ('val', num_val))
            for i in range(n)]
    if progress is None:
        progress = len(jobs) > 200
    if progress:
        from mmengine.utils import track_iter_progress
        jobs = track_iter_progress(jobs)
    stems: Dict[str, List[str]] = {'train': [], 'val': []}
    for split, i in jobs:
        rng = np.random.default_rng([seed, split == 'val', i])
        image, label = render_sample(spec, classes, size, rng)
        stems[split].append(_WRITERS[layout](root, split, i, image, label))

    if layout == 'voc':
        sets = osp.join(root, 'ImageSets', 'Segmentation')
        os.makedirs(sets, exist_ok=True)
        for name, items in (('train', stems['train']), ('val', stems['val']),
                            ('trainval', stems['train'] + stems['val']),
                            ('aug', stems['train'])):
            with open(osp.join(sets, f'{name}.txt'), 'w') as f:
                f.write('\n'.join(items) + '\n')
    with open(osp.join(root, 'toy_dataset.json'), 'w') as f:
        json.dump(dict(layout=layout, classes=list(classes), background=spec.background,
                       image_size=list(size), num_train=num_train, num_val=num_val,
                       seed=seed), f, indent=2)
    return root
