"""The default Grad-CAM class: the most frequent foreground class."""
import numpy as np
import pytest
from mmseg.datasets import CityscapesDataset, PascalVOCDataset

import mmseg_attn  # noqa: F401
from mmseg_attn.visualization import background_ids, default_class_id, resolve_class_id


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
