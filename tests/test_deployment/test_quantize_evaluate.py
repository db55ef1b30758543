"""INT8 quantization calibrated on the config's data, and the accuracy of a deployed
model measured as tools/test.py measures it."""
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from mmseg_attn.deployment import (
    OnnxModelError,
    OrtSegmentor,
    deployed_segmentor,
    evaluate,
    export_onnx,
    quantize_onnx,
    read_metadata,
    segment_image,
    validate_metadata,
)
from mmseg_attn.deployment import quantize as quantize_module
from tests.families import config_path, tiny_segmentor
from tests.utils import REPO_ROOT, load_tool, toy_config


@pytest.fixture(scope='module')
def toy_setup(toy_cityscapes, tmp_path_factory):
    """The tiny BiSeNet's config on the toy Cityscapes, a checkpoint, its fp32 export."""
    work = tmp_path_factory.mktemp('deploy')
    cfg = toy_config(config_path('bisenet_mmseg'), toy_cityscapes, work, dataset='cityscapes')
    model = tiny_segmentor('bisenet_mmseg')
    checkpoint = str(work / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    fp32 = str(work / 'fp32.onnx')
    export_onnx(model, fp32, (64, 128), dynamic=True, dynamo=False)
    return cfg, checkpoint, fp32, work


@pytest.mark.parametrize('family', ['bisenet_mmseg', 'flanet_resnet'])
def test_int8_model_keeps_metadata_and_mostly_the_labels(family, toy_cityscapes, tmp_path):
    cfg = toy_config(config_path(family), toy_cityscapes, tmp_path, dataset='cityscapes')
    fp32, int8 = str(tmp_path / 'fp32.onnx'), str(tmp_path / 'int8.onnx')
    export_onnx(tiny_segmentor(family), fp32, (64, 128), dynamo=False)
    report = quantize_onnx(cfg, fp32, int8, calib_samples=4, calib_split='train')
    assert report['quantized_layers'] > 5 and report['quantized']
    meta = read_metadata(int8)
    assert meta['quantization']['method'] == 'minmax' and meta['quantization']['calib_samples'] == 4
    assert meta['mean'] == read_metadata(fp32)['mean'] and meta['num_classes'] == 19
    ops = {n.op_type for n in onnx.load(int8).graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    image = np.random.RandomState(0).randint(0, 256, (64, 128, 3), dtype=np.uint8)
    labels = {}
    for name, path in (('fp32', fp32), ('int8', int8)):
        model = OrtSegmentor(path)
        labels[name] = segment_image(model, validate_metadata(read_metadata(path), path,
                                                              model.session), image)
    agree = (labels['fp32'] == labels['int8']).mean()
    assert agree > 0.8, agree  # random weights: many near-ties; a trained model agrees more


def test_deploy_test_equals_tools_test(toy_setup, capsys):
    """The fp32 export of a checkpoint scores the mIoU of tools/test.py with it."""
    cfg, checkpoint, fp32, work = toy_setup
    result = subprocess.run([sys.executable, 'tools/test.py', cfg, checkpoint, '--work-dir',
                             str(work / 'test')], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = float(re.findall(r'mIoU: ([\d.]+)', result.stdout + result.stderr)[-1])
    tool = load_tool('tools/deployment/deploy_test.py')
    assert tool.main([cfg, fp32, '--out-dir', str(work / 'onnx'), '--no-progress']) == 0
    out = capsys.readouterr().out
    onnx_miou = float(re.search(r'mIoU ([\d.]+)', out).group(1))
    assert abs(onnx_miou - expected) <= 0.01, (onnx_miou, expected)
    # the checkpoint on the fast path, and its bf16 autocast (close, not equal)
    fast = evaluate(cfg, deployed_segmentor(cfg, checkpoint), str(work / 'fast'), False)
    assert abs(fast['mIoU'] - expected) <= 0.01
    bf16 = evaluate(cfg, deployed_segmentor(cfg, checkpoint, 'bf16'), str(work / 'bf16'), False)
    assert abs(bf16['mIoU'] - expected) <= 5


def test_clear_errors(toy_setup, tmp_path, capsys):
    cfg, checkpoint, fp32, work = toy_setup
    quantize = load_tool('tools/deployment/quantize_onnx.py')
    deploy_test = load_tool('tools/deployment/deploy_test.py')
    out = str(tmp_path / 'q.onnx')
    cases = [
        (quantize, [cfg, checkpoint, '--output-file', out], 'is not a readable ONNX model'),
        (quantize, [cfg, fp32, '--output-file', out, '--calib-samples', '500'],
         '500 calibration samples asked for, but the val split holds 2 images'),
        (quantize, [cfg, fp32, '--output-file', out, '--cfg-options',
                    f'val_dataloader.dataset.data_root={tmp_path}/nowhere'],
         'which does not exist: give its folder with --cfg-options'),
        (deploy_test, [cfg, fp32, '--precision', 'bf16'], 'are for a checkpoint'),
        (deploy_test, [cfg, str(tmp_path / 'missing.onnx')], 'does not exist'),
    ]
    for tool, args, problem in cases:
        assert tool.main(args) == 1, args
        err = capsys.readouterr().err
        assert problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'q.onnx').exists()
    static = str(tmp_path / 'static.onnx')
    export_onnx(tiny_segmentor('bisenet_mmseg'), static, (32, 48), dynamo=False)
    with pytest.raises(OnnxModelError, match='takes 32 x 48 inputs only'):
        evaluate(cfg, deployed_segmentor(cfg, static), str(tmp_path / 'w'), False)


def _activation_scales(path):
    """The scales of the activations' QuantizeLinear nodes, by tensor."""
    model = onnx.load(path)
    values = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: float(values[n.input[1]]) for n in model.graph.node
            if n.op_type == 'QuantizeLinear' and n.input[1] in values
            and values[n.input[1]].size == 1}


def test_each_calibration_method_chooses_its_own_ranges(toy_setup, tmp_path, monkeypatch):
    """ONNX Runtime's entropy calibrator, left at its 128 bins, returns the
    min-max range; each method must choose ranges of its own (and quantize a
    dynamic export, whose shape inference fails on older ONNX Runtimes)."""
    cfg, _, fp32, _ = toy_setup
    # 2048 bins take ONNX Runtime's Python KL search 0.5 s a tensor; 256 still
    # leave it 65 thresholds
    monkeypatch.setattr(quantize_module, 'ENTROPY_BINS',
                        dict(num_bins=256, num_quantized_bins=128))
    scales = {}
    for method in ('minmax', 'entropy', 'percentile'):
        path = str(tmp_path / f'{method}.onnx')
        quantize_onnx(cfg, fp32, path, calib_samples=2, method=method)
        assert read_metadata(path)['quantization']['method'] == method
        scales[method] = _activation_scales(path)
    assert scales['minmax'].keys() == scales['entropy'].keys() == scales['percentile'].keys()
    for method in ('entropy', 'percentile'):
        differ = [k for k in scales['minmax'] if scales[method][k] != scales['minmax'][k]]
        # (at 128 bins none would: the KL search would have one candidate)
        assert len(differ) >= len(scales['minmax']) // 10, (method, len(differ))


def test_slide_mode_runs_the_static_model_on_each_window(toy_cityscapes, tmp_path):
    """A config with ``test_cfg.mode='slide'``: mmseg's sliding window feeds
    the static export its crops, and the mIoU is the checkpoint's."""
    cfg = toy_config(config_path('bisenet_mmseg'), toy_cityscapes, tmp_path,
                     dataset='cityscapes',
                     cfg_options={'model.test_cfg': dict(mode='slide', crop_size=(32, 48),
                                                         stride=(24, 40))})
    model = tiny_segmentor('bisenet_mmseg')
    checkpoint, static = str(tmp_path / 'tiny.pth'), str(tmp_path / 'static.onnx')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    export_onnx(model, static, (32, 48), dynamo=False)
    windows = []
    onnx_model = deployed_segmentor(cfg, static)
    encode_decode = onnx_model.encode_decode
    onnx_model.encode_decode = lambda x, metas: windows.append(x.shape) or encode_decode(x, metas)
    onnx = evaluate(cfg, onnx_model, str(tmp_path / 'onnx'), False)
    fast = evaluate(cfg, deployed_segmentor(cfg, checkpoint), str(tmp_path / 'fast'), False)
    assert len(windows) > 2 and {tuple(s[2:]) for s in windows} == {(32, 48)}
    assert abs(onnx['mIoU'] - fast['mIoU']) <= 0.01, (onnx, fast)
