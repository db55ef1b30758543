# Copyright (c) mmseg_attn contributors. All rights reserved.
"""tools/deployment: pytorch2onnx.py and onnx_inference.py end to end (in process)."""
import contextlib
import io
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmseg_attn.deployment import (
    SegmentorExportWrapper,
    create_session,
    export_onnx,
    read_metadata,
)
from tests.families import config_path, tiny_segmentor
from tests.utils import load_tool


def _tool(name):
    return load_tool(f'tools/deployment/{name}.py')


@pytest.fixture(scope='module')
def pytorch2onnx():
    return _tool('pytorch2onnx')


@pytest.fixture(scope='module')
def onnx_inference():
    return _tool('onnx_inference')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint of the tiny BiSeNet with weights unlike a fresh build's."""
    model = tiny_segmentor('bisenet_mmseg')
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return str(path)


@pytest.fixture(scope='module')
def exported(pytorch2onnx, checkpoint, tmp_path_factory):
    """pytorch2onnx.py with --checkpoint --dynamic-export --verify: (file, rc, stdout)."""
    file = str(tmp_path_factory.mktemp('onnx') / 'bisenet.onnx')
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = pytorch2onnx.main([config_path('bisenet_mmseg'), '--checkpoint', checkpoint,
                                '--output-file', file, '--shape', '64', '96',
                                '--dynamic-export', '--verify'])
    return file, rc, stdout.getvalue()


def test_pytorch2onnx_exports_checkpoint_and_verifies(exported):
    exported, rc, out = exported
    assert rc == 0, out
    assert 'Verified at 64 x 96: relative difference of the logits' in out
    assert 'Verified at 48 x 72' in out  # the second shape of a dynamic export
    meta = read_metadata(exported)
    assert meta['dynamic_shape'] is True and meta['output'] == 'logits'
    # the checkpoint's weights were exported: ONNX Runtime matches the saved model
    x = torch.randn(1, 3, 40, 56)
    (got, ) = create_session(exported).run(None, {'input': x.numpy()})
    with torch.no_grad():
        expected = SegmentorExportWrapper(tiny_segmentor('bisenet_mmseg'))(x).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_pytorch2onnx_clear_errors(pytorch2onnx, tmp_path, capsys):
    missing = str(tmp_path / 'missing.pth')
    rc = pytorch2onnx.main([config_path('bisenet_mmseg'), '--checkpoint', missing,
                            '--output-file', str(tmp_path / 'm.onnx')])
    err = capsys.readouterr().err
    assert rc == 1 and f"checkpoint '{missing}' does not exist" in err
    assert not osp.exists(tmp_path / 'm.onnx')
    with pytest.raises(SystemExit) as exc:
        pytorch2onnx.main([config_path('bisenet_mmseg'), '--output-file',
                           str(tmp_path / 'm.onnx'), '--output', 'probs'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--output: invalid choice: 'probs'" in err and "'logits'" in err
    with pytest.raises(SystemExit):  # --output-file is required
        pytorch2onnx.main([config_path('bisenet_mmseg')])


def _expected_labels(model, image):
    """PyTorch's labels for a BGR image through the config's own data preprocessor."""
    h, w = image.shape[:2]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    data = dict(inputs=[torch.from_numpy(image).permute(2, 0, 1).contiguous()],
                data_samples=[sample])
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        (result, ) = model.predict(data['inputs'], data['data_samples'])
    logits = result.seg_logits.data
    top2 = logits.topk(2, dim=0).values
    return result.pred_sem_seg.data[0].numpy(), (top2[0] - top2[1]).numpy() > 1e-5


def test_onnx_inference_end_to_end(onnx_inference, exported, tmp_path, capsys):
    exported = exported[0]
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (45, 70, 3), dtype=np.uint8)
    image_file = str(tmp_path / 'image.png')
    cv2.imwrite(image_file, image)
    out = str(tmp_path / 'out' / 'pred.png')
    rc = onnx_inference.main([image_file, exported, '--out', out, '--palette', 'cityscapes'])
    assert rc == 0
    printed = capsys.readouterr().out
    assert 'wrote' in printed and 'pred_labels.png' in printed
    labels = cv2.imread(str(tmp_path / 'out' / 'pred_labels.png'), cv2.IMREAD_UNCHANGED)
    colour = cv2.imread(out, cv2.IMREAD_COLOR)
    assert labels.shape == (45, 70) and labels.dtype == np.uint8
    assert colour.shape == (45, 70, 3)
    # the normalisation read from the metadata is the config's preprocessing
    expected, decided = _expected_labels(tiny_segmentor('bisenet_mmseg'), image)
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(labels[decided], expected[decided])
    # colours are the Cityscapes palette of the labels (written as BGR)
    from mmseg.datasets import CityscapesDataset
    palette = np.array(CityscapesDataset.METAINFO['palette'], dtype=np.uint8)
    np.testing.assert_array_equal(colour[..., ::-1], palette[labels])


def test_onnx_inference_static_model_resizes(onnx_inference, tmp_path, capsys):
    model = tiny_segmentor('fcn_se_cbam')
    file = str(tmp_path / 'static.onnx')
    export_onnx(model, file, (32, 48), output='argmax', dynamo=False)
    image = np.random.RandomState(1).randint(0, 256, (40, 50, 3), dtype=np.uint8)
    image_file = str(tmp_path / 'image.jpg')
    cv2.imwrite(image_file, image)
    labels_out = str(tmp_path / 'labels.png')
    rc = onnx_inference.main([image_file, file, '--out', str(tmp_path / 'c.png'),
                              '--labels-out', labels_out, '--opacity', '0.5'])
    assert rc == 0
    labels = cv2.imread(labels_out, cv2.IMREAD_UNCHANGED)
    assert labels.shape == (40, 50) and labels.max() < 19
    rc = onnx_inference.main([str(tmp_path / 'nope.png'), file, '--out', 'x.png'])
    assert rc == 1 and "image '" in capsys.readouterr().err
