# Copyright (c) mmseg_attn contributors. All rights reserved.
"""mmseg's inference helpers on this package's configs (checked loaders in the pipelines)."""
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmseg.apis import MMSegInferencer, inference_model, init_model
from mmseg.registry import TRANSFORMS

from mmseg_attn.apis import SegInferencer
from tests.utils import REPO_ROOT

TINY = osp.join(REPO_ROOT, 'tests', 'data', 'deploy_bisenet_mmseg_tiny.py')


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    path = str(tmp_path_factory.mktemp('img') / 'frame.png')
    mmcv.imwrite(img, path)
    return img, path


def test_inference_model_takes_arrays_and_files(image):
    """mmseg's inference_model drops 'LoadAnnotations' by name only: the checked
    label loader lets an image without a label map through."""
    img, path = image
    model = init_model(TINY, device='cpu')
    # a path first: an array makes mmseg switch the model's cfg to its array loader for good
    for item in (path, img):
        result = inference_model(model, item)
        assert result.pred_sem_seg.data.shape == (1, 40, 56)
        assert result.seg_logits.data.shape[1:] == (40, 56)


def test_seg_inferencer_runs_our_configs(image):
    img, path = image
    with pytest.raises(ValueError, match='LoadImageFromFile is not found'):
        MMSegInferencer(model=TINY, device='cpu')  # why SegInferencer exists
    inferencer = SegInferencer(model=TINY, device='cpu')
    for item in (img, path):
        predictions = inferencer(item)['predictions']
        assert predictions.shape == (40, 56) and predictions.max() < 19
    assert [t['type'] for t in inferencer.cfg.test_dataloader.dataset.pipeline][0] == \
        'InferencerLoader'


def test_dataset_sample_without_label_map_is_refused():
    loader = TRANSFORMS.build(dict(type='LoadCheckedAnnotations'))
    sample = dict(img_path='a.png', reduce_zero_label=False, seg_fields=[])
    with pytest.raises(KeyError, match=r"no label map for image 'a.png'.*seg_map_path"):
        loader(sample)
    plain = dict(img=np.zeros((2, 2, 3), np.uint8))
    assert loader(plain) is plain  # an image given to the inference helpers
