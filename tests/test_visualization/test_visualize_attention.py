"""Attention figures of a tiny model of each family, and tools/visualize_attention.py."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg_attn.visualization import load_image, load_segmentor, visualize_attention
from tests.utils import REPO_ROOT

BISENET = 'tests/data/attention_vis_bisenet_tiny.py'
FPN = 'tests/data/attention_vis_fpn_tiny.py'
FCN_CBAM = 'tests/data/attention_vis_fcn_cbam_tiny.py'
FCN = 'tests/data/attention_vis_fcn_tiny.py'
FLANET = 'tests/data/attention_vis_flanet_tiny.py'
CHART = (480, 240)
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


def _picture(path, min_width=480, size=None, colour=0.01):
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


def _analyse(config, image, tmp_path, per_map=False, **kwargs):
    model = load_segmentor(config)
    out_dir = str(tmp_path / osp.basename(config)[:-3])
    index = visualize_attention(model, image, out_dir, chart_size=CHART, fla_size=FLA,
                                per_map=per_map, **kwargs)
    with open(osp.join(out_dir, 'attention_maps.json')) as f:
        assert json.load(f) == json.loads(json.dumps(index))
    return index, out_dir


def test_bisenet_every_block_kind(toy_cityscapes, tmp_path):
    image = load_image(_toy_image(toy_cityscapes))
    index, out_dir = _analyse(BISENET, image, tmp_path, per_map=True, class_id=13)
    assert index['model'] == 'attention_vis_bisenet_tiny'
    assert index['classes'][13] == 'car' and len(index['classes']) == 19  # from the config
    assert index['unsupported_blocks'] == []
    maps = index['maps']
    counts = {}
    for m in maps:
        counts[(m['type'], m['kind'])] = counts.get((m['type'], m['kind']), 0) + 1
    # ResNet-18 has 2 blocks per stage, each with one plugin; 2 ARMs, 1 FFM, 1 FLA
    assert counts == {
        ('SqueezeExcitation', 'channel'): 2, ('ChannelAttention', 'channel'): 2,
        ('SpatialAttention', 'spatial'): 2, ('PixelAttention', 'pixel'): 2,
        ('SpatialAttentionRefinement', 'spatial'): 2,
        ('AttentionRefinementModule', 'channel'): 2, ('FeatureFusionModule', 'channel'): 1,
        ('FullyAttentionalBlock', 'fla'): 1
    }
    files = set(os.listdir(out_dir))
    assert files == {m['file'] for m in maps} | set(index['files'].values()) | {
        'attention_maps.json'}
    assert index['files'] == dict(panel='panel.png', spatial_maps='spatial_maps.png',
                                  channel_gates='channel_gates.png',
                                  gradcam='gradcam_class13.png')
    for m in maps:
        path = osp.join(out_dir, m['file'])
        if m['kind'] == 'channel':
            _picture(path, size=CHART, colour=0.001)
            assert 0 <= m['min'] <= m['max'] <= 1  # sigmoid gates
            assert len(m['strongest_channels']) == 5
        elif m['kind'] == 'fla':
            _, text = _picture(path, size=FLA)
            assert 'FullyAttentionalBlock' in text['Title']
        else:
            _picture(path)
    rgb, text = _picture(osp.join(out_dir, 'panel.png'), min_width=900)
    assert text['class_name'] == 'car' and text['class_id'] == '13'
    assert text['model'] == 'attention_vis_bisenet_tiny' and text['cam_layer'] == 'neck[0]'
    # the panel shows the prediction in the Cityscapes palette
    top = index['predicted_classes'][0]['class_id']
    colour = np.array(load_segmentor(BISENET).dataset_meta['palette'][top], np.uint8)
    assert (rgb == colour).all(-1).sum() > 100
    for name in ('spatial_maps.png', 'channel_gates.png', 'gradcam_class13.png'):
        _, text = _picture(osp.join(out_dir, name), colour=0.001 if 'channel' in name else 0.01)
        assert text['class_name'] == 'car'
    cam = index['gradcam']
    assert cam['class_name'] == 'car' and cam['layer'] == 'neck' and cam['index'] == 0
    shares = index['predicted_classes']
    assert abs(sum(c['share'] for c in shares) - 1) < 1e-3
    assert all(c['class_name'] == index['classes'][c['class_id']] for c in shares)


def test_fpn_fusion_weights_and_cam_layer(toy_cityscapes, tmp_path):
    image = load_image(_toy_image(toy_cityscapes), (48, 80))
    index, out_dir = _analyse(FPN, image, tmp_path, class_name='Person', cam_layer='backbone',
                              cam_index=3)
    maps = index['maps']
    # 3 top-down merges, each an iAFF: the MS-CAM of its inner AFF and its own
    assert len(maps) == 6 and {m['kind'] for m in maps} == {'fusion'}
    assert sorted(m['title'] for m in maps)[0].startswith('AFF in iAFF: fusion weight')
    for m in maps:
        assert 0 <= m['min'] <= m['max'] <= 1
    cam = index['gradcam']
    assert cam['class_name'] == 'person' and cam['layer'] == 'backbone' and cam['index'] == 3
    assert cam['activation_shape'][1] == 64  # the last ResNet-18 stage (8 base channels)
    _, text = _picture(osp.join(out_dir, 'panel.png'))
    assert text['class_name'] == 'person' and text['cam_layer'] == 'backbone[3]'


def test_flanet_row_and_column_attention(toy_cityscapes, tmp_path):
    image = load_image(_toy_image(toy_cityscapes), (64, 96))
    index, out_dir = _analyse(FLANET, image, tmp_path)
    (fla, ) = index['maps']
    assert fla['kind'] == 'fla' and fla['shape'] == [8, 12]  # output stride 8
    _, text = _picture(osp.join(out_dir, fla['file']), size=FLA)
    assert 'row and column attention' in text['Title']


def test_bad_class_is_named(toy_cityscapes, tmp_path):
    model = load_segmentor(FCN)
    image = load_image(_toy_image(toy_cityscapes), (32, 32))
    with pytest.raises(ValueError, match="'spaceship' is not a class.*road, sidewalk"):
        visualize_attention(model, image, str(tmp_path), class_name='spaceship')
    with pytest.raises(ValueError, match=r'class_id must be in \[0, 19\)'):
        visualize_attention(model, image, str(tmp_path), class_id=19)


def test_cli_compare_cbam_fcn_with_plain_fcn(toy_cityscapes, tmp_path):
    """--compare: one side-by-side picture; default class: the commonest foreground one."""
    img_path = _toy_image(toy_cityscapes)
    image = cv2.imread(img_path)
    out_dir = tmp_path / 'vis'
    out = _run(img_path, FCN_CBAM, '--out-dir', out_dir, '--compare', FCN, '--compare-name',
               'FCN-R18', '--name', 'FCN-R18 + CBAM', '--overview-only')
    with open(out_dir / 'attention_maps.json') as f:
        index = json.load(f)
    kinds = [(m['type'], m['kind']) for m in index['maps']]
    assert kinds == [('ChannelAttention', 'channel'), ('SpatialAttention', 'spatial')] * 8
    assert all(m['file'] is None for m in index['maps'])  # --overview-only
    shares = {c['class_name']: c['share'] for c in index['predicted_classes']}
    chosen = index['gradcam']['class_name']
    # the most frequent predicted class that is not the background ('road')
    assert chosen == max((n for n in shares if n != 'road'), key=shares.get)
    _, text = _picture(str(out_dir / 'spatial_maps.png'), min_width=900)
    assert 'spatial attention' in text['Title'] and text['class_name'] == chosen

    comparison = index['comparison']
    assert comparison['file'] == 'comparison.png' and comparison['class_name'] == chosen
    assert [m['name'] for m in comparison['models']] == ['FCN-R18 + CBAM', 'FCN-R18']
    assert 'comparison.png' in out
    assert set(os.listdir(out_dir)) == {'attention_maps.json', 'panel.png', 'spatial_maps.png',
                                        'channel_gates.png', f'gradcam_class'
                                        f'{index["gradcam"]["class_id"]}.png',
                                        'comparison.png'}
    rgb, text = _picture(str(out_dir / 'comparison.png'), min_width=900)
    assert text['class_name'] == chosen and text['model'] == 'FCN-R18 + CBAM | FCN-R18'
    assert rgb.shape[0] > 2 * image.shape[0]  # a row per model
