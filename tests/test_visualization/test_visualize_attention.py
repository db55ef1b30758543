"""Attention figures of a tiny model of each family."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmseg_attn.apis import build_segmentor
from mmseg_attn.utils.image import load_image
from mmseg_attn.visualization import visualize_attention
from tests.pictures import picture as _picture
from tests.pictures import toy_image as _toy_image

BISENET = 'tests/data/attention_vis_bisenet_tiny.py'
FPN = 'tests/data/attention_vis_fpn_tiny.py'
FCN_CBAM = 'tests/data/attention_vis_fcn_cbam_tiny.py'
FCN = 'tests/data/attention_vis_fcn_tiny.py'
FLANET = 'tests/data/attention_vis_flanet_tiny.py'
CHART = (480, 240)
FLA = (640, 480)


def _analyse(config, image, tmp_path, per_map=False, **kwargs):
    model = build_segmentor(config)
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
    colour = np.array(build_segmentor(BISENET).dataset_meta['palette'][top], np.uint8)
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
    model = build_segmentor(FCN)
    image = load_image(_toy_image(toy_cityscapes), (32, 32))
    with pytest.raises(ValueError, match="'spaceship' is not a class.*road, sidewalk"):
        visualize_attention(model, image, str(tmp_path), class_name='spaceship')
    with pytest.raises(ValueError, match=r'class_id must be in \[0, 19\)'):
        visualize_attention(model, image, str(tmp_path), class_id=19)
