# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Class names, palette and the "background" class of a segmentor's dataset.

The names and colours come from where mmseg takes them (``init_model`` and
the dataset classes): the ``dataset_meta`` saved in a checkpoint's ``meta``
first, else the config's dataset (the ``METAINFO`` of its registered type,
with a ``metainfo=dict(classes=..., palette=...)`` override applied), else
generic names ``class 0 ... class K-1``.

**Background.** Grad-CAM is drawn by default for the most frequent predicted
*foreground* class. A class is background when its name is one of
:data:`BACKGROUND_CLASSES` (case-insensitive): ``background`` (Pascal VOC and
most custom datasets), ``road`` (Cityscapes: the surface that fills the
lower half of every street scene and under every object), ``unlabeled`` /
``other`` / ``void`` where a dataset keeps such a label as a class. ADE20K
(150 classes, its "other" label 0 removed by ``reduce_zero_label``) has no
background class: every class counts.
"""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'BACKGROUND_CLASSES', 'background_ids', 'dataset_meta', 'default_class_id', 'model_name',
    'resolve_class_id'
]

#: Class names (lower case) that count as background for the default Grad-CAM class.
BACKGROUND_CLASSES = ('background', 'road', 'unlabeled', 'unlabelled', 'other', 'void', 'bg')


def _leaf_datasets(cfg) -> List[dict]:
    out = []
    for name in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(name) if cfg is not None else None
        if not loader or not loader.get('dataset'):
            continue
        stack = [loader['dataset']]
        while stack:
            ds = stack.pop(0)
            if 'datasets' in ds:
                stack.extend(ds['datasets'])
            elif 'dataset' in ds:
                stack.append(ds['dataset'])
            else:
                out.append(ds)
    return out


def _config_meta(cfg) -> Optional[dict]:
    """classes / palette of the first dataset of the config whose type is registered."""
    from mmseg.registry import DATASETS
    for ds in _leaf_datasets(cfg):
        meta = {}
        dataset_type = ds.get('type')
        cls = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
        if cls is not None and getattr(cls, 'METAINFO', None):
            meta.update({k: cls.METAINFO[k] for k in ('classes', 'palette')
                         if k in cls.METAINFO})
        override = ds.get('metainfo') or {}
        if override.get('classes') is not None:
            old_classes, old_palette = meta.get('classes'), meta.get('palette')
            meta['classes'] = tuple(override['classes'])
            if override.get('palette') is not None:
                meta['palette'] = override['palette']
            elif old_classes and old_palette:  # a subset keeps its colours, as mmseg does
                lookup = dict(zip(old_classes, old_palette))
                meta['palette'] = [lookup.get(c) for c in meta['classes']]
            else:
                meta.pop('palette', None)
        if meta.get('classes'):
            return meta
    return None


def _generated_palette(num: int, seed: int = 42) -> List[List[int]]:
    rng = np.random.RandomState(seed)
    return rng.randint(0, 255, size=(num, 3)).tolist()


def dataset_meta(cfg=None, checkpoint_meta: Optional[dict] = None,
                 num_classes: Optional[int] = None) -> Dict[str, list]:
    """``dict(classes=[...], palette=[[r, g, b], ...])`` of a segmentor.

    Args:
        cfg (Config, optional): The model's config. Defaults to None.
        checkpoint_meta (dict, optional): The ``meta`` of its checkpoint.
            Defaults to None.
        num_classes (int, optional): Classes of the decode head; names and
            colours are completed (``class K``, generated colours) or cut
            to this number, with a warning. Defaults to None.

    Returns:
        dict: ``classes`` (list of str) and ``palette`` (list of RGB lists),
        of equal lengths; ``source`` says where they came from.
    """
    meta, source = None, 'generic'
    ckpt = (checkpoint_meta or {}).get('dataset_meta')
    if ckpt and ckpt.get('classes'):
        meta, source = dict(ckpt), 'checkpoint'
    elif cfg is not None:
        meta = _config_meta(cfg)
        source = 'config' if meta else source
    meta = meta or {}
    classes = [str(c) for c in (meta.get('classes') or [])]
    palette = meta.get('palette')
    if not palette or len(palette) != len(classes) or any(p is None for p in palette):
        generated = _generated_palette(len(classes))
        palette = [list(p) if p is not None else generated[i]
                   for i, p in enumerate(palette or [None] * len(classes))]
        palette += generated[len(palette):len(classes)]
    palette = [[int(v) for v in p] for p in palette]
    if num_classes is not None and len(classes) != num_classes:
        if classes:
            warnings.warn(f'the dataset meta ({source}) names {len(classes)} classes but the '
                          f'model predicts {num_classes}; using generic names for the rest',
                          stacklevel=2)
        extra = _generated_palette(num_classes)
        classes = (classes + [f'class {k}' for k in range(len(classes), num_classes)]
                   )[:num_classes]
        palette = (palette + extra[len(palette):])[:num_classes]
    return dict(classes=classes, palette=palette, source=source)


def background_ids(classes: Sequence[str]) -> List[int]:
    """Indices of the classes named as in :data:`BACKGROUND_CLASSES`."""
    return [i for i, c in enumerate(classes) if str(c).strip().lower() in BACKGROUND_CLASSES]


def resolve_class_id(classes: Sequence[str], class_id: Optional[int] = None,
                     class_name: Optional[str] = None) -> Optional[int]:
    """The class chosen by id or (case-insensitive) name; None when neither is given.

    Raises:
        ValueError: Both given, an id out of range or an unknown name (the
            message lists the class names).
    """
    if class_id is not None and class_name is not None:
        raise ValueError('give class_id or class_name, not both')
    if class_id is not None:
        if isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)):
            raise TypeError(f'class_id must be an int, got {type(class_id).__name__}')
        if not 0 <= class_id < len(classes):
            raise ValueError(f'class_id must be in [0, {len(classes)}), got {class_id}')
        return int(class_id)
    if class_name is not None:
        lowered = [str(c).lower() for c in classes]
        if class_name.lower() not in lowered:
            raise ValueError(f'class_name {class_name!r} is not a class of the model; '
                             f'the classes are: {", ".join(map(str, classes))}')
        return lowered.index(class_name.lower())
    return None


def default_class_id(pred: np.ndarray, classes: Sequence[str]) -> int:
    """The most frequent predicted foreground class (see the module docstring).

    Falls back to the most frequent class when only background is predicted.

    Args:
        pred (np.ndarray): Predicted label map.
        classes (Sequence[str]): Class names (their number bounds the ids).
    """
    counts = np.bincount(np.asarray(pred).reshape(-1), minlength=len(classes))
    foreground = counts.copy()
    foreground[background_ids(classes)] = 0
    return int(foreground.argmax() if foreground.sum() > 0 else counts.argmax())


def model_name(cfg=None, default: str = 'model') -> str:
    """A short name of a model: its config file name without ``.py``."""
    filename = getattr(cfg, 'filename', None) if cfg is not None else None
    if filename:
        return osp.splitext(osp.basename(filename))[0]
    return default
