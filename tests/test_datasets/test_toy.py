"""The toy datasets read back through mmseg's stock dataset configs and classes."""
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS
from mmseg.utils import register_all_modules

from mmseg_attn.datasets import LAYOUTS, make_toy_dataset
from mmseg_attn.datasets.toy import render_sample

register_all_modules()

STOCK = {'cityscapes': 'cityscapes.py', 'ade20k': 'ade20k.py', 'voc': 'pascal_voc12.py'}


def stock_dataset_cfg(layout, data_root, split='train'):
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', '_base_', 'datasets',
                    STOCK[layout])
    cfg = Config.fromfile(path)
    ds = cfg[f'{split}_dataloader'].dataset
    ds.data_root = data_root  # the only change
    return ds


def load(ds, idx):
    """Raw image (RGB) and label as the stock loading transforms give them."""
    results = ds.get_data_info(idx)
    for t in ds.pipeline.transforms:
        if type(t).__name__ in ('LoadImageFromFile', 'LoadAnnotations'):
            results = t(results)
    return results['img'][..., ::-1], results['gt_seg_map'], results


def sample_index(layout, path):
    """The generation index written into a toy file name."""
    numbers = [int(n) for n in re.findall(r'\d+', osp.basename(path))]
    if layout == 'voc':  # 2007_000003
        return numbers[1]
    return numbers[0] - (layout == 'ade20k')  # ADE_train_00000004 is index 3


@pytest.mark.parametrize('layout,fixture', [('cityscapes', 'toy_cityscapes'),
                                            ('ade20k', 'toy_ade20k'), ('voc', 'toy_voc')])
def test_stock_dataset_reads_toy_data(layout, fixture, request):
    data_root = request.getfixturevalue(fixture)
    spec = LAYOUTS[layout]
    for split, n in (('train', 6), ('val', 2)):
        ds = DATASETS.build(stock_dataset_cfg(layout, data_root, split))
        assert len(ds) == n
        classes = list(ds.metainfo['classes'])
        object_ids = {classes.index(c) for c in spec.default_classes}
        background = {classes.index(spec.background)} if spec.background else set()
        seen = set()
        for i in range(n):
            img, gt, results = load(ds, i)
            assert img.shape[:2] == gt.shape
            # the same sample regenerated from the seed: the files hold it exactly
            index = sample_index(layout, results['img_path'])
            rng = np.random.default_rng([0, split == 'val', index])
            ref_img, ref_label = render_sample(spec, spec.default_classes, img.shape[:2], rng)
            if layout == 'cityscapes':  # lossless PNG
                np.testing.assert_array_equal(img, ref_img)
            else:  # JPEG
                assert np.abs(img.astype(int) - ref_img).mean() < 8  # another image: ~40
            if layout == 'ade20k':  # reduce_zero_label: 0 (other) -> 255, k -> k - 1
                assert ds.reduce_zero_label
                expected = np.where(ref_label == 0, 255, ref_label.astype(int) - 1)
                np.testing.assert_array_equal(gt, expected)
            elif layout == 'voc':  # 255 borders, classes unchanged elsewhere
                border = gt == 255
                assert border.any() and border.mean() < 0.4
                np.testing.assert_array_equal(gt[~border], ref_label[~border])
            else:
                np.testing.assert_array_equal(gt, ref_label)
            seen |= set(np.unique(gt).tolist())
        assert seen - {255} <= object_ids | background
        assert len((seen - {255}) & object_ids) >= 3
        # the full stock pipeline runs on the toy files
        packed = ds[0]
        assert packed['inputs'].ndim == 3
        gt_shape = packed['data_samples'].gt_sem_seg.data.shape[-2:]
        if split == 'train':  # cropped together with the image
            assert gt_shape == packed['inputs'].shape[-2:]
        else:  # evaluation keeps the label at its original size
            assert tuple(gt_shape) == img.shape[:2]


def test_voc_aug_config_reads_toy_data(toy_voc):
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', '_base_', 'datasets',
                    'pascal_voc12_aug.py')
    cfg = Config.fromfile(path).train_dataloader.dataset
    for ds in cfg.datasets:
        ds.data_root = toy_voc
    ds = DATASETS.build(cfg)
    assert len(ds) == 12  # train.txt (6) + aug.txt (6)
    _, gt_aug, _ = load(ds.datasets[1], 0)
    assert 255 not in gt_aug  # SBD-style labels carry no borders


def test_cityscapes_label_ids_and_layout(toy_cityscapes):
    from glob import glob

    import cv2
    pattern = osp.join(toy_cityscapes, 'gtFine', 'train', '*', '*_labelTrainIds.png')
    train_ids = sorted(glob(pattern))
    assert len(train_ids) == 6
    tid = cv2.imread(train_ids[0], cv2.IMREAD_UNCHANGED)
    lid = cv2.imread(train_ids[0].replace('labelTrainIds', 'labelIds'), cv2.IMREAD_UNCHANGED)
    # road (trainId 0) is labelId 7, car (13) is 26
    assert set(zip(tid[tid == 0][:1].tolist(), lid[tid == 0][:1].tolist())) == {(0, 7)}
    if (tid == 13).any():
        assert (lid[tid == 13] == 26).all()
    assert osp.isfile(train_ids[0].replace('labelTrainIds', 'color'))


def test_deterministic_and_configurable(tmp_path):
    a = make_toy_dataset('voc', str(tmp_path / 'a'), num_train=2, num_val=1, seed=3,
                         image_size=(40, 48), classes=['cat', 'dog'])
    b = make_toy_dataset('voc', str(tmp_path / 'b'), num_train=3, num_val=1, seed=3,
                         image_size=(40, 48), classes=['cat', 'dog'])
    fa = open(osp.join(a, 'SegmentationClass', '2007_000001.png'), 'rb').read()
    fb = open(osp.join(b, 'SegmentationClass', '2007_000001.png'), 'rb').read()
    assert fa == fb  # image i depends only on (seed, split, i)
    with open(osp.join(a, 'ImageSets', 'Segmentation', 'train.txt')) as f:
        assert f.read().split() == ['2007_000000', '2007_000001']
    import cv2
    label = cv2.imread(osp.join(a, 'SegmentationClassAug', '2007_000000.png'), 0)
    assert label.shape == (40, 48)
    assert set(np.unique(label)) <= {0, 8, 12}  # background, cat, dog


@pytest.mark.parametrize('kwargs,match', [
    (dict(layout='kitti'), 'layout must be one of'),
    (dict(layout='voc', classes=['unicorn']), 'not voc classes'),
    (dict(layout='voc', classes=['background']), 'background class'),
    (dict(layout='voc', image_size=(8, 8)), 'image_size'),
    (dict(layout='voc', num_train=0), 'num_train'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_toy_dataset(out_dir=str(tmp_path), **kwargs)
