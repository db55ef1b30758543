"""Reading the pictures that the attention tools write, in tests."""
import glob
import os.path as osp

import numpy as np
from PIL import Image


def toy_image(data_root):
    images = sorted(glob.glob(osp.join(data_root, 'leftImg8bit', 'val', '*', '*.png')))
    assert images, data_root
    return images[0]


def picture(path, min_width=480, size=None, colour=0.01):
    """Read a PNG; check its size, that it is not blank and has colour (a heatmap)."""
    assert osp.isfile(path), path
    with Image.open(path) as png:
        text = dict(png.text)
        rgb = np.asarray(png.convert('RGB'))
    h, w = rgb.shape[:2]
    if size is not None:
        assert (w, h) == tuple(size), (path, w, h)
    assert w >= min_width, (path, w)
    assert rgb.std() > 20, f'{path} is blank'
    saturation = rgb.max(-1).astype(int) - rgb.min(-1)
    assert (saturation > 100).mean() > colour, f'{path} shows no colour'
    return rgb, text
