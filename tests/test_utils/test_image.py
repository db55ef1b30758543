"""mmseg_attn.utils.image: a file that is no whole image is refused, naming it,
before it is decoded where its header tells its size."""
import struct
import zlib

import cv2
import numpy as np
import pytest

from mmseg_attn.utils.image import (
    ImageError,
    image_size,
    label_suffix_problem,
    load_image,
)


def _png_header_only(path, height, width):
    """A PNG whose header says ``height x width`` (no pixel data): what Pillow
    reads the size from without decoding anything."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b''))
    return str(path)


@pytest.fixture
def image(tmp_path):
    picture = np.random.RandomState(0).randint(0, 256, (40, 60, 3), dtype=np.uint8)
    return picture, tmp_path


def test_whole_images_load(image):
    picture, tmp_path = image
    for suffix in ('.png', '.jpg', '.bmp'):
        path = str(tmp_path / f'ok{suffix}')
        cv2.imwrite(path, picture)
        loaded = load_image(path)
        assert loaded.shape == (40, 60, 3) and loaded.dtype == np.uint8
        assert image_size(path) == (40, 60)
    assert load_image(path, (20, 30)).shape == (20, 30, 3)


def test_truncated_jpeg_and_png_are_refused(image):
    """OpenCV decodes a cut JPEG into a picture whose lower part is grey, silently."""
    picture, tmp_path = image
    for suffix, name in (('.jpg', 'JPEG'), ('.png', 'PNG')):
        whole = str(tmp_path / f'whole{suffix}')
        cv2.imwrite(whole, picture)
        data = open(whole, 'rb').read()
        cut = tmp_path / f'cut{suffix}'
        cut.write_bytes(data[:len(data) // 2])
        with pytest.raises(ImageError, match=rf"'{cut}' is a truncated {name}"):
            load_image(str(cut))


@pytest.mark.parametrize('content, problem', [
    (b'', 'is empty'),
    (b'not an image at all\n', 'is a text file'),
    (bytes(range(256)) * 4, 'cannot be decoded'),
])
def test_bad_files_are_named(tmp_path, content, problem):
    path = tmp_path / 'bad.png'
    path.write_bytes(content)
    with pytest.raises(ImageError, match=rf"'{path}' {problem}"):
        load_image(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_image(str(tmp_path / 'nope.png'))
    with pytest.raises(IsADirectoryError, match='is a directory, not an image file'):
        load_image(str(tmp_path))


def test_huge_image_is_refused_from_its_header(tmp_path):
    path = _png_header_only(tmp_path / 'huge.png', 20000, 20000)
    assert image_size(path) == (20000, 20000)
    with pytest.raises(ImageError, match=r'20000 x 20000 = 400,000,000 pixels.*--max-pixels'):
        load_image(path)
    with pytest.raises(ImageError, match='more than the limit of 100'):
        load_image(path, max_pixels=100)


def test_label_maps_are_written_losslessly():
    assert label_suffix_problem('labels.png') is None
    assert label_suffix_problem('out/labels.TIFF') is None
    assert 'lossy' in label_suffix_problem('labels.jpg')
    assert '.png' in label_suffix_problem('labels')
