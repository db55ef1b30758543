"""Broken samples stop with a message naming the file and the problem, or are
skipped and counted; tools/analysis_tools/check_dataset.py lists them all.

Unit tests of the checked loading transforms themselves are in
tests/test_datasets/test_transforms.py."""
import copy
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import mmseg_attn  # noqa: F401
from mmseg_attn.datasets import (
    CorruptSampleError,
    make_toy_dataset,
    reset_skipped_samples,
    skipped_samples,
)
from tests.utils import REPO_ROOT, load_tool

BASES = {
    'cityscapes': 'configs/_base_/datasets/cityscapes.py',
    'ade20k': 'configs/_base_/datasets/ade20k.py',
    'voc': 'configs/_base_/datasets/pascal_voc12.py',
}


def _dataset(layout, root, on_error='raise', full_pipeline=False):
    """The training set of our base config on ``root``, loading transforms only."""
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    cfg = copy.deepcopy(Config.fromfile(BASES[layout]).train_dataloader.dataset)
    cfg.data_root = root
    if not full_pipeline:
        cfg.pipeline = cfg.pipeline[:2]
    for t in cfg.pipeline[:2]:
        t['on_error'] = on_error
    return DATASETS.build(cfg)


@pytest.fixture
def toy(tmp_path):
    """A fresh toy dataset (cityscapes layout) that a test may break."""
    return make_toy_dataset('cityscapes', str(tmp_path), num_train=3, num_val=1,
                            image_size=(32, 48), seed=0)


def _label(path):
    return np.array(Image.open(path))


def _break_missing(info):
    os.remove(info['seg_map_path'])
    return info['seg_map_path'], 'label file does not exist'


def _overwrite(path, data, problem):
    """Replace the file at ``path`` by ``data``; return it and the problem to report."""
    with open(path, 'wb') as f:
        f.write(data)
    return path, problem


def _break_corrupt_image(info):
    return _overwrite(info['img_path'], b'\x89PNG\r\n\x1a\n this is not an image',
                      'image file is corrupt')


def _break_truncated_image(info):
    """The file cut short (a cut JPEG decodes into a partly grey picture: only its
    end says that something is missing)."""
    with open(info['img_path'], 'rb') as f:
        data = f.read()
    return _overwrite(info['img_path'], data[:-12], 'is a truncated PNG')


def _break_empty_image(info):
    return _overwrite(info['img_path'], b'', 'image file is empty')


def _break_corrupt_label(info):
    return _overwrite(info['seg_map_path'], b'garbage', 'label file is corrupt')


def _break_out_of_range(info):
    label = _label(info['seg_map_path'])
    label[3, 5] = 19  # Cityscapes has train ids 0..18 and the ignore index 255
    label[4, 6] = 33
    Image.fromarray(label).save(info['seg_map_path'])
    return info['seg_map_path'], 'values 19, 33 outside the class indices 0..18'


def _break_size(info):
    Image.fromarray(_label(info['seg_map_path'])[:20]).save(info['seg_map_path'])
    return info['seg_map_path'], 'label file is 20x48 (height x width) but its image'


def _break_colour(info):
    label = _label(info['seg_map_path'])
    colour = np.stack([label, label // 2, np.zeros_like(label)], axis=-1)
    Image.fromarray(colour).save(info['seg_map_path'])
    return info['seg_map_path'], 'label file has 3 different channels'


def _break_16bit(info):
    label = _label(info['seg_map_path']).astype(np.uint16)
    label[0, 0] = 300  # would wrap around to 44 in a cast to uint8
    Image.fromarray(label).save(info['seg_map_path'])
    return info['seg_map_path'], 'do not fit the 0..255'


def _break_lossy(info):
    # a JPEG saved under the label's .png name: values stay in range, edges change
    Image.fromarray(_label(info['seg_map_path'])).save(info['seg_map_path'], format='JPEG')
    return info['seg_map_path'], 'label file is a JPEG image (lossy), although it is named .png'


BREAKERS = {
    'missing label': _break_missing,
    'corrupt image': _break_corrupt_image,
    'truncated image': _break_truncated_image,
    'empty image': _break_empty_image,
    'corrupt label': _break_corrupt_label,
    'label out of range': _break_out_of_range,
    'image and label sizes differ': _break_size,
    'colour label': _break_colour,
    '16-bit label above 255': _break_16bit,
    'JPEG label named .png': _break_lossy,
}


@pytest.mark.parametrize('case', list(BREAKERS))
def test_bad_sample_stops_naming_file_and_problem(toy, case):
    dataset = _dataset('cityscapes', toy)
    dataset.prepare_data(1)  # intact before
    path, problem = BREAKERS[case](dataset.get_data_info(1))
    with pytest.raises(CorruptSampleError) as info:
        dataset.prepare_data(1)
    assert path in str(info.value) and problem in str(info.value)
    assert info.value.path == path and problem in info.value.problem
    assert 'tools/analysis_tools/check_dataset.py' in str(info.value)
    # the other samples are untouched
    assert dataset.prepare_data(0)['gt_seg_map'].shape == (32, 48)


@pytest.mark.parametrize('case', ['corrupt label', 'label out of range', 'missing label'])
def test_skip_mode_skips_and_counts(toy, case):
    reset_skipped_samples()
    dataset = _dataset('cityscapes', toy, on_error='skip')
    path, problem = BREAKERS[case](dataset.get_data_info(1))
    assert dataset.prepare_data(1) is None  # the pipeline drops the sample...
    sample = dataset[1]  # ...and mmengine's dataset puts another one in its place
    assert sample['img_path'] != dataset.get_data_info(1)['img_path']
    skipped = skipped_samples()
    assert list(skipped) == [path] and problem in skipped[path]
    reset_skipped_samples()
    assert skipped_samples() == {}


def test_missing_image_listed_in_ann_file(tmp_path):
    root = make_toy_dataset('voc', str(tmp_path), num_train=2, num_val=1, image_size=(32, 40))
    dataset = _dataset('voc', root)
    info = dataset.get_data_info(0)
    os.remove(info['img_path'])
    with pytest.raises(CorruptSampleError, match='image file does not exist') as e:
        dataset.prepare_data(0)
    assert e.value.path == info['img_path']


def test_ade20k_range_is_checked_after_reduce_zero_label(tmp_path):
    root = make_toy_dataset('ade20k', str(tmp_path), num_train=2, num_val=1, image_size=(32, 40))
    dataset = _dataset('ade20k', root)
    info = dataset.get_data_info(0)
    label = _label(info['seg_map_path'])
    label[0, 0] = 0  # "other": ignored after reduce_zero_label
    label[0, 1] = 150  # the last class (149 after reduce_zero_label)
    Image.fromarray(label).save(info['seg_map_path'])
    gt = dataset.prepare_data(0)['gt_seg_map']
    assert gt[0, 0] == 255 and gt[0, 1] == 149
    label[0, 2] = 151
    Image.fromarray(label).save(info['seg_map_path'])
    with pytest.raises(CorruptSampleError,
                       match=r'values 150 \(after reduce_zero_label\) outside .*0\.\.149'):
        dataset.prepare_data(0)


def test_size_check_uses_original_image_shape_after_resize(toy):
    """In a test pipeline the label is loaded after Resize: ori_shape is compared."""
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    cfg = copy.deepcopy(Config.fromfile(BASES['cityscapes']).val_dataloader.dataset)
    cfg.data_root = toy
    cfg.pipeline[1]['scale'] = (96, 64)  # Resize to another size than the label's
    dataset = DATASETS.build(cfg)
    assert dataset.prepare_data(0)['data_samples'].gt_sem_seg.data.shape[-2:] == (32, 48)
    path, problem = _break_size(dataset.get_data_info(0))
    with pytest.raises(CorruptSampleError, match='label file is 20x48'):
        dataset.prepare_data(0)


def test_check_dataset_lists_every_problem_under_python_O(toy, capsys):
    """All problems of a dataset in one scan, exit code 1; no assert is relied on."""
    dataset = _dataset('cityscapes', toy)
    expected = [BREAKERS[case](dataset.get_data_info(i)) for i, case in
                enumerate(['corrupt image', 'label out of range', 'image and label sizes differ'])]
    config = osp.join(REPO_ROOT, BASES['cityscapes'])
    cmd = [sys.executable, '-O', 'tools/analysis_tools/check_dataset.py', config, '--cfg-options',
           f'train_dataloader.dataset.data_root={toy}']
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    for path, problem in expected:
        assert any(line.startswith(f'{path}: ') and problem in line for line in lines), \
            result.stdout[-3000:]
    assert '3 problem(s) in 3 file(s) among 3 samples' in result.stdout

    # the intact validation split passes (in this process: -O was shown above)
    tool = load_tool('tools/analysis_tools/check_dataset.py')
    assert tool.main([config, '--cfg-options', f'val_dataloader.dataset.data_root={toy}',
                      '--split', 'val']) == 0
    assert '1 samples checked (val split' in capsys.readouterr().out


def test_check_dataset_on_config_with_stock_loaders(toy, capsys):
    """A config with mmseg's own loaders is checked with the checked ones."""
    tool = load_tool('tools/analysis_tools/check_dataset.py')
    dataset = _dataset('cityscapes', toy)
    broken = [_break_corrupt_label(dataset.get_data_info(2)),
              _break_lossy(dataset.get_data_info(0))]
    import mmseg
    config = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', '_base_', 'datasets',
                      'cityscapes.py')  # mmseg's own, with the stock loaders
    assert tool.main([config, '--jobs', '2', '--cfg-options',
                      f'train_dataloader.dataset.data_root={toy}']) == 1
    out = capsys.readouterr().out
    for path, problem in broken:
        assert f'{path}: {problem}' in out, out
    assert '2 problem(s) in 2 file(s) among 3 samples' in out
