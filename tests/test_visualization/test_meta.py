"""Class names, palette and the default Grad-CAM class."""
import numpy as np
import pytest
from mmengine.config import Config
from mmseg.datasets import CityscapesDataset, PascalVOCDataset

import mmseg_attn  # noqa: F401
from mmseg_attn.visualization import (
    background_ids,
    dataset_meta,
    default_class_id,
    resolve_class_id,
)


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


def test_background_and_default_class():
    cityscapes = CityscapesDataset.METAINFO['classes']
    voc = PascalVOCDataset.METAINFO['classes']
    assert background_ids(cityscapes) == [0]  # road
    assert background_ids(voc) == [0]  # background
    assert background_ids(['wall', 'floor', 'tree']) == []  # ADE20K: none
    pred = np.array([[0, 0, 0, 13], [0, 0, 11, 11]])
    assert default_class_id(pred, cityscapes) == 11  # road is most frequent, skipped
    assert default_class_id(np.zeros((2, 2), int), cityscapes) == 0  # only background
    assert default_class_id(pred, ['wall'] + [f'c{k}' for k in range(13)]) == 0


def test_resolve_class():
    classes = ['road', 'car']
    assert resolve_class_id(classes) is None
    assert resolve_class_id(classes, class_name='CAR') == 1
    assert resolve_class_id(classes, class_id=0) == 0
    with pytest.raises(ValueError, match="'bus' is not a class of the model; the classes are: "
                       'road, car'):
        resolve_class_id(classes, class_name='bus')
    with pytest.raises(ValueError, match=r'class_id must be in \[0, 2\), got 2'):
        resolve_class_id(classes, class_id=2)
    with pytest.raises(TypeError, match='class_id must be an int'):
        resolve_class_id(classes, class_id='1')
    with pytest.raises(ValueError, match='not both'):
        resolve_class_id(classes, class_id=1, class_name='car')
