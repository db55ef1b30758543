"""Unit tests of the checked loading transforms (mmseg_attn/datasets/transforms.py).

End-to-end scenarios (datasets built from our base configs, skip mode,
tools/analysis_tools/check_dataset.py) are in tests/test_reliability/test_bad_data.py.
"""
import pickle

import numpy as np
import pytest
from PIL import Image

import mmseg_attn  # noqa: F401
from mmseg_attn.datasets import (
    CorruptSampleError,
    LoadCheckedAnnotations,
    LoadCheckedImageFromFile,
)
from mmseg_attn.utils.image import label_format_problem


def _label_map(shape=(32, 48)):
    label = np.zeros(shape, np.uint8)
    label[8:24, 10:30] = 1
    label[12:20, 30:44] = 2
    return label


def _load_label(path, **kwargs):
    results = dict(seg_map_path=str(path), reduce_zero_label=False, seg_fields=[])
    return LoadCheckedAnnotations(num_classes=3, **kwargs)(results)


def test_transform_arguments():
    with pytest.raises(ValueError, match='on_error'):
        LoadCheckedAnnotations(on_error='ignore')
    with pytest.raises(ValueError, match='on_error'):
        LoadCheckedImageFromFile(on_error=None)
    with pytest.raises(ValueError, match='num_classes'):
        LoadCheckedAnnotations(num_classes=0)
    with pytest.raises(TypeError, match='ignore_index'):
        LoadCheckedAnnotations(ignore_index='255')
    assert LoadCheckedImageFromFile(ignore_empty=True).on_error == 'skip'
    assert "on_error='raise'" in repr(LoadCheckedAnnotations(num_classes=19))


def test_error_survives_pickling():
    """Dataloader workers send exceptions to the main process."""
    err = CorruptSampleError('label file does not exist: x.png', 'x.png', 'label file does not '
                             'exist')
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.path, back.problem) == (str(err), err.path, err.problem)


LOSSLESS = {
    'png': dict(format='PNG'),
    'bmp': dict(format='BMP'),
    'gif': dict(format='GIF'),
    'pgm': dict(format='PPM'),
    'tif': dict(format='TIFF'),
    'lzw.tif': dict(format='TIFF', compression='tiff_lzw'),
    'deflate.tif': dict(format='TIFF', compression='tiff_adobe_deflate'),
    'packbits.tif': dict(format='TIFF', compression='packbits'),
    'webp': dict(format='WEBP', lossless=True),
}


@pytest.mark.parametrize('name', list(LOSSLESS))
def test_lossless_label_formats_load_exactly(tmp_path, name):
    path = tmp_path / f'label.{name}'
    Image.fromarray(_label_map()).save(path, **LOSSLESS[name])
    assert label_format_problem(path.read_bytes()) is None
    np.testing.assert_array_equal(_load_label(path)['gt_seg_map'], _label_map())


LOSSY = {
    'jpeg named .png': ('label.png', dict(format='JPEG', quality=75),
                        r'label file is a JPEG image \(lossy\), although it is named \.png'),
    'jpeg': ('label.jpg', dict(format='JPEG'), r'a JPEG image \(lossy\):'),
    'jpeg in tiff': ('label.tif', dict(format='TIFF', compression='jpeg'),
                     r'a TIFF image with JPEG compression'),
    'lossy webp': ('label.webp', dict(format='WEBP', quality=80), 'a lossy WebP image'),
}


@pytest.mark.parametrize('case', list(LOSSY))
def test_lossy_label_is_refused_naming_the_file(tmp_path, case):
    name, save_args, problem = LOSSY[case]
    path = tmp_path / name
    Image.fromarray(_label_map()).save(path, **save_args)
    decoded = np.array(Image.open(path))
    if case == 'jpeg named .png':  # in range for Cityscapes' 19 classes, yet changed
        assert decoded.max() < 19 and (decoded != _label_map()).sum() > 0
    with pytest.raises(CorruptSampleError, match=problem) as info:
        _load_label(path)
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert 'save label maps as PNG' in str(info.value)
    assert _load_label(path, on_error='skip') is None


def test_label_format_is_read_from_the_bytes():
    assert label_format_problem(b'\x89PNG\r\n\x1a\n' + bytes(10)) is None
    assert label_format_problem(b'\xff\xd8\xff\xe0' + bytes(10)) == 'a JPEG image (lossy)'
    assert 'JPEG 2000' in label_format_problem(b'\x00\x00\x00\x0cjP  \r\n\x87\n' + bytes(4))
    assert 'not known to be lossless' in label_format_problem(b'\x00' * 32)
    assert 'cannot be read' in label_format_problem(b'II*\x00\xff\xff\xff\x00')
