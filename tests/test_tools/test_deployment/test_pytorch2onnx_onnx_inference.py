# Copyright (c) mmseg_attn contributors. All rights reserved.
"""tools/deployment: pytorch2onnx.py and onnx_inference.py end to end (in process)."""
import contextlib
import io
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
import torch

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
    """mmseg's labels for a BGR image: ``inference_model``, i.e. the config's test
    pipeline (its resize) and postprocessing (logits resized to the image)."""
    from mmseg.apis import inference_model
    result = inference_model(model, image)
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
    # the normalisation and resize read from the metadata are the config's pipeline
    expected, decided = _expected_labels(tiny_segmentor('bisenet_mmseg'), image)
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(labels[decided], expected[decided])
    # colours are the Cityscapes palette of the labels (written as BGR)
    from mmseg.datasets import CityscapesDataset
    palette = np.array(CityscapesDataset.METAINFO['palette'], dtype=np.uint8)
    np.testing.assert_array_equal(colour[..., ::-1], palette[labels])


def test_onnx_inference_of_a_checkpoint(onnx_inference, exported, checkpoint, tmp_path,
                                        capsys):
    """A checkpoint with its config gives the labels of its ONNX export (fp32),
    mostly the same in bf16, and the same two files."""
    image = np.random.RandomState(1).randint(0, 256, (45, 70, 3), dtype=np.uint8)
    image_file = str(tmp_path / 'image.png')
    cv2.imwrite(image_file, image)
    labels = {}
    runs = {'onnx': [exported[0]],
            'fp32': [checkpoint, '--config', config_path('bisenet_mmseg')],
            'bf16': [checkpoint, '--config', config_path('bisenet_mmseg'), '--precision', 'bf16']}
    for name, args in runs.items():
        out = str(tmp_path / f'{name}.png')
        with warnings.catch_warnings():  # no native bf16 on some CPUs: a warning says so
            warnings.simplefilter('ignore', UserWarning)
            assert onnx_inference.main([image_file, *args, '--out', out]) == 0, name
        assert f'{name}_labels.png' in capsys.readouterr().out
        labels[name] = cv2.imread(str(tmp_path / f'{name}_labels.png'), cv2.IMREAD_UNCHANGED)
        assert labels[name].shape == (45, 70) and labels[name].dtype == np.uint8
    expected, decided = _expected_labels(tiny_segmentor('bisenet_mmseg'), image)
    np.testing.assert_array_equal(labels['fp32'][decided], expected[decided])
    np.testing.assert_array_equal(labels['fp32'][decided], labels['onnx'][decided])
    assert (labels['bf16'] == labels['fp32']).mean() > 0.8  # random weights: near-ties
    cases = [([checkpoint], 'a checkpoint needs its --config'),
             ([exported[0], '--precision', 'bf16'], 'an .onnx model runs as it was exported'),
             ([checkpoint, '--config', config_path('bisenet_mmseg'), '--precision', 'fp16'],
              "precision 'fp16' is for CUDA")]
    for args, problem in cases:
        assert onnx_inference.main([image_file, *args, '--out', str(tmp_path / 'x.png')]) == 1
        err = capsys.readouterr().err
        assert problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'x.png').exists()


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


def test_pytorch2onnx_refuses_a_checkpoint_of_another_model(pytorch2onnx, checkpoint, tmp_path,
                                                            capsys):
    """A BiSeNet's weights given to a FLANet config: refused, nothing written."""
    out = tmp_path / 'flanet.onnx'
    rc = pytorch2onnx.main([config_path('flanet_resnet'), '--checkpoint', checkpoint,
                            '--output-file', str(out), '--shape', '32', '48', '--verify'])
    err = capsys.readouterr().err
    assert rc == 1 and f"checkpoint '{checkpoint}' does not fit" in err
    assert 'missing key(s)' in err and 'unexpected key(s)' in err
    assert not out.exists()


@pytest.mark.parametrize('args, problem', [
    (['--shape', '100000', '100000'], '--shape 100000 x 100000 is beyond the limit'),
    (['--opset', '99'], 'opset 99: the TorchScript-based exporter of torch'),
])
def test_pytorch2onnx_options_beyond_limits_get_one_line(pytorch2onnx, tmp_path, capsys, args,
                                                         problem):
    rc = pytorch2onnx.main([config_path('fcn_se_cbam'), '--output-file',
                            str(tmp_path / 'm.onnx'), *args])
    err = capsys.readouterr().err
    assert rc == 1 and problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'm.onnx').exists()


def test_failed_export_leaves_the_existing_file(tmp_path, monkeypatch):
    """A disk that fills up during an export: the previous model stays whole."""
    import errno
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'the previous model')

    def half_written(model, args, f, *more, **kwargs):
        with open(f, 'wb') as handle:
            handle.write(b'\x08\x09 half')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(torch.onnx, 'export', half_written)
    with pytest.raises(Exception, match='No space left'):
        export_onnx(tiny_segmentor('fcn_se_cbam'), str(out), (32, 48), dynamo=False)
    assert out.read_bytes() == b'the previous model'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']  # no temporary left


@pytest.fixture(scope='module')
def static_argmax(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('static') / 'static.onnx')
    export_onnx(tiny_segmentor('fcn_se_cbam'), path, (32, 48), output='argmax', dynamo=False)
    return path


def _image(tmp_path, name='image.png', size=(40, 50)):
    image = np.random.RandomState(1).randint(0, 256, (*size, 3), dtype=np.uint8)
    path = str(tmp_path / name)
    cv2.imwrite(path, image)
    return path


def test_onnx_inference_refuses_lossy_label_files(onnx_inference, static_argmax, tmp_path,
                                                  capsys):
    rc = onnx_inference.main([_image(tmp_path), static_argmax, '--out', str(tmp_path / 'c.png'),
                              '--labels-out', str(tmp_path / 'labels.jpg')])
    err = capsys.readouterr().err
    assert rc == 1 and '--labels-out' in err and 'lossy' in err
    assert not (tmp_path / 'labels.jpg').exists() and not (tmp_path / 'c.png').exists()


def test_onnx_inference_names_every_bad_input(onnx_inference, static_argmax, tmp_path, capsys):
    image = _image(tmp_path)
    empty, text, cut = tmp_path / 'empty.onnx', tmp_path / 'text.onnx', tmp_path / 'cut.onnx'
    empty.write_bytes(b'')
    text.write_text('<html>not found</html>\n')
    data = open(static_argmax, 'rb').read()
    cut.write_bytes(data[:len(data) // 2])
    cut_image = tmp_path / 'cut.jpg'
    cv2.imwrite(str(cut_image), np.full((40, 50, 3), 128, np.uint8))
    cut_image.write_bytes(cut_image.read_bytes()[:300])
    note = tmp_path / 'note.png'
    note.write_text('hello\n')
    cases = [
        ([image, str(empty)], f"'{empty}' is not a readable ONNX model: it is empty"),
        ([image, str(text)], f"'{text}' is not a readable ONNX model: it is a text file"),
        ([image, str(cut)], f"'{cut}' is not a readable ONNX model"),
        ([str(note), static_argmax], f"'{note}' is a text file, not an image"),
        ([str(cut_image), static_argmax], f"'{cut_image}' is a truncated JPEG"),
        ([str(tmp_path), static_argmax], f"'{tmp_path}' is a directory, not an image file"),
        ([image, str(tmp_path)], f"'{tmp_path}' is a directory, not a .onnx file"),
    ]
    for args, problem in cases:
        rc = onnx_inference.main([*args, '--out', str(tmp_path / 'o.png')])
        err = capsys.readouterr().err
        assert rc == 1 and problem in err and len(err.strip().splitlines()) == 1, (args, err)
    # metadata that does not fit the graph, or no sane value
    import onnx
    for key, value, problem in (('export_shape', '[64, 96]', 'the graph takes 32 x 48'),
                                ('num_classes', '1000000000', 'an int from 1 to 65536'),
                                ('mean', '"x"', 'finite numbers')):
        model = onnx.load(static_argmax)
        for prop in model.metadata_props:
            if prop.key == key:
                prop.value = value
        bad = str(tmp_path / f'bad_{key}.onnx')
        onnx.save(model, bad)
        rc = onnx_inference.main([image, bad, '--out', str(tmp_path / 'o.png')])
        err = capsys.readouterr().err
        assert rc == 1 and f"metadata key '{key}'" in err and problem in err, err
    assert not (tmp_path / 'o.png').exists()


def test_onnx_inference_memory_is_bounded_by_the_image(static_argmax, tmp_path):
    """A 4000 x 4000 image through a 19-class model: the logits are never held at the
    image's size (19 x 4000 x 4000 float32 alone are 1.2 GB); the process's peak
    grows by less than 25 bytes a pixel over the same run on a small image. A
    20000 x 20000 header is refused unread."""
    import subprocess
    import sys

    from tests.test_utils.test_image import _png_header_only
    from tests.utils import REPO_ROOT
    logits = str(tmp_path / 'logits.onnx')
    export_onnx(tiny_segmentor('fcn_se_cbam'), logits, (32, 48), dynamo=False)
    code = ('import resource, runpy, sys\n'
            'sys.argv = sys.argv[1:]\n'
            'try:\n    runpy.run_path(sys.argv[0], run_name="__main__")\n'
            'except SystemExit as e:\n    code = e.code\n'
            'print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n'
            'sys.exit(code)\n')
    tool = f'{REPO_ROOT}/tools/deployment/onnx_inference.py'
    peaks = {}
    for side in (40, 4000):
        image = str(tmp_path / f'image{side}.png')
        cv2.imwrite(image, np.zeros((side, side, 3), np.uint8))
        result = subprocess.run([sys.executable, '-c', code, tool, image, logits, '--out',
                                 str(tmp_path / f'pred{side}.png')], capture_output=True,
                                text=True, timeout=300, cwd=REPO_ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        peaks[side] = float(result.stdout.split('PEAK_MB')[1])
    growth = (peaks[4000] - peaks[40]) * 2**20 / 4000**2
    assert growth < 25, f'{growth:.1f} bytes a pixel ({peaks})'
    labels = cv2.imread(str(tmp_path / 'pred4000_labels.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (4000, 4000)
    huge = _png_header_only(tmp_path / 'huge.png', 20000, 20000)
    result = subprocess.run([sys.executable, tool, huge, logits, '--out',
                             str(tmp_path / 'h.png')], capture_output=True, text=True,
                            timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 1 and '20000 x 20000' in result.stderr
    assert '--max-pixels' in result.stderr
