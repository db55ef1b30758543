"""Class names and palette of a segmentor's dataset (mmseg_attn.utils.dataset_meta)."""
import pytest
from mmengine.config import Config
from mmseg.datasets import BaseSegDataset, CityscapesDataset, PascalVOCDataset

import mmseg_attn  # noqa: F401
from mmseg_attn.utils import config_datasets, dataset_meta, generated_palette, leaf_datasets


def _cfg(**dataset):
    return Config(dict(test_dataloader=dict(dataset=dict(type='CityscapesDataset', **dataset))))


def test_meta_sources_in_mmseg_order():
    # the config's dataset type
    meta = dataset_meta(_cfg(), None, 19)
    assert meta['source'] == 'config'
    assert meta['classes'] == list(CityscapesDataset.METAINFO['classes'])
    assert meta['palette'] == [list(p) for p in CityscapesDataset.METAINFO['palette']]
    # the checkpoint's dataset_meta comes first
    ckpt = dict(dataset_meta=dict(classes=('sky', 'car'), palette=[[1, 2, 3], [4, 5, 6]]))
    meta = dataset_meta(_cfg(), ckpt, 2)
    assert meta == dict(classes=['sky', 'car'], palette=[[1, 2, 3], [4, 5, 6]],
                        source='checkpoint')
    # a metainfo override: a subset of the classes keeps their colours
    meta = dataset_meta(_cfg(metainfo=dict(classes=('car', 'road'))), None, 2)
    assert meta['classes'] == ['car', 'road']
    assert meta['palette'] == [[0, 0, 142], [128, 64, 128]]
    # a wrapped dataset (RepeatDataset) is looked into
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(type='PascalVOCDataset')))))
    assert dataset_meta(cfg, None, 21)['classes'] == list(PascalVOCDataset.METAINFO['classes'])


def test_meta_without_a_dataset_is_generic():
    meta = dataset_meta(Config(dict(model=dict())), None, 3)
    assert meta['source'] == 'generic'
    assert meta['classes'] == ['class 0', 'class 1', 'class 2']
    assert len(meta['palette']) == 3
    with pytest.warns(UserWarning, match='names 19 classes but the model predicts 21'):
        meta = dataset_meta(_cfg(), None, 21)
    assert meta['classes'][19:] == ['class 19', 'class 20'] and len(meta['palette']) == 21


def test_leaf_datasets_of_wrappers_in_order():
    a, b, c = (dict(type='CityscapesDataset', data_root=r) for r in 'abc')
    concat = dict(type='ConcatDataset', datasets=[dict(type='RepeatDataset', dataset=a), b])
    assert leaf_datasets(concat) == [a, b]
    cfg = Config(dict(train_dataloader=dict(dataset=concat), test_dataloader=dict(dataset=c)))
    assert config_datasets(cfg) == [c, a, b]
    assert config_datasets(cfg, ('train', )) == [a, b]


def test_generated_palette_is_mmsegs():
    """The colours of classes without a palette are the ones mmseg's datasets draw."""
    dataset = BaseSegDataset(metainfo=dict(classes=[f'c{i}' for i in range(7)]), lazy_init=True)
    assert generated_palette(7) == dataset.metainfo['palette']
