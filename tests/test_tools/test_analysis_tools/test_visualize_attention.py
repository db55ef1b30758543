"""tools/analysis_tools/visualize_attention.py end to end."""
import json
import os
import subprocess
import sys

import cv2

from tests.pictures import picture, toy_image
from tests.utils import REPO_ROOT

FCN_CBAM = 'tests/data/attention_vis_fcn_cbam_tiny.py'
FCN = 'tests/data/attention_vis_fcn_tiny.py'


def _run(*args):
    cmd = [sys.executable, 'tools/analysis_tools/visualize_attention.py', *map(str, args)]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def test_cli_compare_cbam_fcn_with_plain_fcn(toy_cityscapes, tmp_path):
    """--compare: one side-by-side picture; default class: the commonest foreground one."""
    img_path = toy_image(toy_cityscapes)
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
    _, text = picture(str(out_dir / 'spatial_maps.png'), min_width=900)
    assert 'spatial attention' in text['Title'] and text['class_name'] == chosen

    comparison = index['comparison']
    assert comparison['file'] == 'comparison.png' and comparison['class_name'] == chosen
    assert [m['name'] for m in comparison['models']] == ['FCN-R18 + CBAM', 'FCN-R18']
    assert 'comparison.png' in out
    assert set(os.listdir(out_dir)) == {'attention_maps.json', 'panel.png', 'spatial_maps.png',
                                        'channel_gates.png', f'gradcam_class'
                                        f'{index["gradcam"]["class_id"]}.png',
                                        'comparison.png'}
    rgb, text = picture(str(out_dir / 'comparison.png'), min_width=900)
    assert text['class_name'] == chosen and text['model'] == 'FCN-R18 + CBAM | FCN-R18'
    assert rgb.shape[0] > 2 * image.shape[0]  # a row per model


def test_cli_refuses_other_weights_and_broken_images(toy_cityscapes, tmp_path, capsys):
    """A checkpoint of another model, a truncated JPEG: one line naming the file,
    exit 1, no picture (the random weights or grey half are never drawn)."""
    import numpy as np
    import torch

    from mmseg_attn.apis import build_segmentor
    from tests.utils import load_tool
    tool = load_tool('tools/analysis_tools/visualize_attention.py')
    other = tmp_path / 'fcn.pth'
    torch.save(dict(state_dict=build_segmentor(FCN).state_dict()), str(other))
    image = toy_image(toy_cityscapes)
    cut = tmp_path / 'cut.jpg'
    cv2.imwrite(str(cut), np.full((64, 64, 3), 90, np.uint8))
    cut.write_bytes(cut.read_bytes()[:250])
    for args, problem in (([image, FCN_CBAM, str(other)], f"checkpoint '{other}' does not fit"),
                          ([str(cut), FCN_CBAM], f"'{cut}' is a truncated JPEG")):
        assert tool.main([*args, '--out-dir', str(tmp_path / 'vis')]) == 1
        err = capsys.readouterr().err
        assert problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'vis').exists()
