# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The class a picture is about, and the name of a model.

Class names and colours come from
:func:`mmseg_attn.utils.dataset_meta.dataset_meta` (checkpoint, config or
generic names).

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
from typing import List, Optional, Sequence

import numpy as np

__all__ = [
    'BACKGROUND_CLASSES', 'background_ids', 'default_class_id', 'model_name', 'resolve_class_id'
]

#: Class names (lower case) that count as background for the default Grad-CAM class.
BACKGROUND_CLASSES = ('background', 'road', 'unlabeled', 'unlabelled', 'other', 'void', 'bg')


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
