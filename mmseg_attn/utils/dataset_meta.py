"""Class names and palette of a segmentor's dataset, from a config or checkpoint.

The names and colours come from where mmseg takes them (``init_model`` and
the dataset classes): the ``dataset_meta`` saved in a checkpoint's ``meta``
first, else the config's dataset (the ``METAINFO`` of its registered type,
with a ``metainfo=dict(classes=..., palette=...)`` override applied), else
generic names ``class 0 ... class K-1``. Colours a dataset does not give are
generated as mmseg's ``BaseSegDataset`` generates them
(:func:`generated_palette`), so a class has the same colour everywhere.
"""
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmseg.registry import DATASETS

__all__ = ['config_datasets', 'config_dataset_meta', 'dataset_meta', 'generated_palette',
           'leaf_datasets']

#: The dataloaders whose datasets name a model's classes, most telling first.
SPLITS = ('test', 'val', 'train')


def leaf_datasets(dataset_cfg: dict) -> List[dict]:
    """The dataset configs under a dataset config, in order: the datasets of a
    ``ConcatDataset`` (``datasets=[...]``) and of wrappers such as
    ``RepeatDataset`` (``dataset=...``), or the config itself."""
    out, stack = [], [dataset_cfg]
    while stack:
        cfg = stack.pop(0)
        if cfg.get('datasets') is not None:
            stack[:0] = list(cfg['datasets'])
        elif cfg.get('dataset') is not None:
            stack.insert(0, cfg['dataset'])
        else:
            out.append(cfg)
    return out


def config_datasets(cfg, splits: Sequence[str] = SPLITS) -> List[dict]:
    """The leaf dataset configs of a config's ``<split>_dataloader`` entries."""
    out = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader') if cfg is not None else None
        if loader and loader.get('dataset'):
            out += leaf_datasets(loader['dataset'])
    return out


def generated_palette(num: int, seed: int = 42) -> List[List[int]]:
    """``num`` colours as mmseg's ``BaseSegDataset`` makes them for a dataset
    without a palette (``np.random.seed(42)``, ``randint(0, 255)``)."""
    return np.random.RandomState(seed).randint(0, 255, size=(num, 3)).tolist()


def config_dataset_meta(cfg) -> Optional[Dict[str, list]]:
    """``classes`` (and ``palette`` where known) of the first dataset of the config
    whose type is registered, or None."""
    for ds in config_datasets(cfg):
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


def dataset_meta(cfg=None, checkpoint_meta: Optional[dict] = None,
                 num_classes: Optional[int] = None) -> Dict[str, list]:
    """``dict(classes=[...], palette=[[r, g, b], ...], source=...)`` of a segmentor.

    Args:
        cfg (Config, optional): The model's config. Defaults to None.
        checkpoint_meta (dict, optional): The ``meta`` of its checkpoint.
            Defaults to None.
        num_classes (int, optional): Classes of the decode head; names and
            colours are completed (``class K``, generated colours) or cut
            to this number, with a warning. Defaults to None.

    Returns:
        dict: ``classes`` (list of str) and ``palette`` (list of RGB lists),
        of equal lengths; ``source`` says where they came from
        (``'checkpoint'``, ``'config'`` or ``'generic'``).
    """
    meta, source = None, 'generic'
    ckpt = (checkpoint_meta or {}).get('dataset_meta')
    if ckpt and ckpt.get('classes'):
        meta, source = dict(ckpt), 'checkpoint'
    elif cfg is not None:
        meta = config_dataset_meta(cfg)
        source = 'config' if meta else source
    meta = meta or {}
    classes = [str(c) for c in (meta.get('classes') or [])]
    palette = meta.get('palette')
    if not palette or len(palette) != len(classes) or any(p is None for p in palette):
        generated = generated_palette(len(classes))
        palette = [list(p) if p is not None else generated[i]
                   for i, p in enumerate(palette or [None] * len(classes))]
        palette += generated[len(palette):len(classes)]
    palette = [[int(v) for v in p] for p in palette]
    if num_classes is not None and len(classes) != num_classes:
        if classes:
            warnings.warn(f'the dataset meta ({source}) names {len(classes)} classes but the '
                          f'model predicts {num_classes}; using generic names for the rest',
                          stacklevel=2)
        extra = generated_palette(num_classes)
        classes = (classes + [f'class {k}' for k in range(len(classes), num_classes)]
                   )[:num_classes]
        palette = (palette + extra[len(palette):])[:num_classes]
    return dict(classes=classes, palette=palette, source=source)
