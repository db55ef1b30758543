"""tools/visualize_attention.py on a toy image with randomly initialised models."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np

from tests.utils import REPO_ROOT

BISENET = 'tests/data/attention_vis_bisenet_tiny.py'
FPN = 'tests/data/attention_vis_fpn_tiny.py'
CHART = (320, 200)
FLA = (640, 480)


def _run(*args):
    cmd = [sys.executable, 'tools/visualize_attention.py', *map(str, args)]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def _toy_image(data_root):
    images = sorted(glob.glob(osp.join(data_root, 'leftImg8bit', 'val', '*', '*.png')))
    assert images, data_root
    return images[0]


def _check_picture(path, size, image=None):
    """The PNG has ``size`` (w, h), is not blank and, over an image, shows a map."""
    picture = cv2.imread(path)
    assert picture is not None, path
    assert (picture.shape[1], picture.shape[0]) == tuple(size), (path, picture.shape)
    assert picture.std() > 1, f'{path} is blank'
    if image is not None:
        assert np.abs(picture.astype(float) - image.astype(float)).mean() > 1, \
            f'{path} shows no map over the image'


def _load(out_dir):
    with open(osp.join(out_dir, 'attention_maps.json')) as f:
        return json.load(f)


def test_visualize_bisenet_blocks(toy_cityscapes, tmp_path):
    img_path = _toy_image(toy_cityscapes)
    image = cv2.imread(img_path)
    out_dir = tmp_path / 'vis'
    out = _run(img_path, BISENET, '--out-dir', out_dir, '--class-id', 3, '--chart-size',
               *CHART, '--fla-size', *FLA)
    index = _load(out_dir)
    assert index['image_shape'] == list(image.shape[:2])
    assert index['unsupported_blocks'] == []
    maps = index['maps']
    kinds = {(m['type'], m['kind']) for m in maps}
    assert kinds == {
        ('SqueezeExcitation', 'channel'), ('ChannelAttention', 'channel'),
        ('SpatialAttention', 'spatial'), ('PixelAttention', 'pixel'),
        ('AttentionRefinementModule', 'channel'), ('FeatureFusionModule', 'channel'),
        ('FullyAttentionalBlock', 'fla')
    }
    # the spatial maps of CBAM and of SAR are both there, named by their container
    containers = {m['containers'][-1].split(' ')[-1] for m in maps
                  if m['type'] == 'SpatialAttention'}
    assert containers == {'(CBAM)', '(SpatialAttentionRefinement)'}
    # ResNet-18 has 2 blocks per stage, each with one plugin; 2 ARMs, 1 FFM, 1 FLA
    counts = {t: sum(m['type'] == t for m in maps) for t, _ in kinds}
    assert counts == {'SqueezeExcitation': 2, 'ChannelAttention': 2, 'SpatialAttention': 4,
                      'PixelAttention': 2, 'AttentionRefinementModule': 2,
                      'FeatureFusionModule': 1, 'FullyAttentionalBlock': 1}
    files = sorted(os.listdir(out_dir))
    assert len(files) == len(maps) + 2  # + Grad-CAM + json
    for m in maps:
        path = str(out_dir / m['file'])
        if m['kind'] == 'channel':
            _check_picture(path, CHART)
            assert 0 <= m['min'] <= m['max'] <= 1  # sigmoid gates
        elif m['kind'] == 'fla':
            _check_picture(path, FLA)
        else:
            _check_picture(path, (image.shape[1], image.shape[0]), image)
        assert m['file'] in out
    cam = index['gradcam']
    assert cam['file'] == 'gradcam_class3.png' and cam['class_id'] == 3
    assert cam['layer'] == 'neck' and cam['index'] == 0  # the decode head's input
    _check_picture(str(out_dir / cam['file']), (image.shape[1], image.shape[0]), image)


def test_visualize_fusion_weights_and_cam_layer(toy_cityscapes, tmp_path):
    img_path = _toy_image(toy_cityscapes)
    out_dir = tmp_path / 'vis'
    _run(img_path, FPN, '--out-dir', out_dir, '--shape', 48, 80, '--cam-layer',
         'backbone', '--cam-index', 3)
    index = _load(out_dir)
    maps = index['maps']
    # 3 top-down merges, each an iAFF: the MS-CAM of its inner AFF and its own
    assert len(maps) == 6
    assert {m['kind'] for m in maps} == {'fusion'}
    inner = [m for m in maps if m['containers'][-1].endswith('(AFF)')]
    outer = [m for m in maps if m['containers'][-1].endswith('(iAFF)')]
    assert len(inner) == len(outer) == 3
    for m in maps:
        _check_picture(str(out_dir / m['file']), (80, 48))
        assert 0 <= m['min'] <= m['max'] <= 1
    cam = index['gradcam']
    assert cam['layer'] == 'backbone' and cam['index'] == 3
    assert cam['activation_shape'][1] == 64  # the last ResNet-18 stage (8 base channels)
    _check_picture(str(out_dir / cam['file']), (80, 48))
