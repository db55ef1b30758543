"""tools/misc/make_gallery.py on its tiny setting: every model trains, every picture is drawn."""
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.utils import REPO_ROOT


def test_make_gallery_tiny(tmp_path):
    out_dir, doc = tmp_path / 'gallery', tmp_path / 'doc' / 'gallery.md'
    cmd = [sys.executable, 'tools/misc/make_gallery.py', '--tiny', '--out-dir', str(out_dir),
           '--doc', str(doc), '--work-dir', str(tmp_path / 'work'), '--data-root',
           str(tmp_path / 'data')]
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=900, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == 0, result.stdout[-6000:]
    files = sorted(os.listdir(out_dir))
    assert files == sorted([
        'bisenet_panel.png', 'bisenet_channel_gates.png', 'fcn_cbam_vs_fcn.png',
        'fcn_cbam_spatial_maps.png', 'fcn_cbam_channel_gates.png', 'fpn_aff_vs_fpn.png',
        'fpn_aff_fusion_weights.png', 'flanet_row_column_attention.png'
    ])
    total = 0
    for name in files:
        path = out_dir / name
        total += path.stat().st_size
        with Image.open(path) as png:
            assert png.mode == 'P'  # 8-bit palette: compact
            assert png.text['class_name'] == 'car' and png.text['Title']
            rgb = np.asarray(png.convert('RGB'))
        assert rgb.shape[1] >= 480 and rgb.std() > 20, name
    assert total < 3e6
    text = doc.read_text()
    assert re.findall(r'!\[[^]]*\]\(\.\./gallery/([^)]+)\)', text) == [
        'bisenet_panel.png', 'bisenet_channel_gates.png', 'fcn_cbam_vs_fcn.png',
        'fpn_aff_vs_fpn.png', 'fcn_cbam_spatial_maps.png', 'fcn_cbam_channel_gates.png',
        'fpn_aff_fusion_weights.png', 'flanet_row_column_attention.png'
    ]
    # the table names each model with its toy-validation mIoU
    for name in ('BiSeNet-R18', 'FCN-R18', 'FCN-R18 + CBAM', 'FPN-R18', 'FPN-R18 + AFF',
                 'FLANet-R18'):
        assert re.search(rf'\| {re.escape(name)} \| .* \| \d+\.\d \|', text), name
    assert '8 pictures' in result.stdout
