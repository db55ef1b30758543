# Copyright (c) mmseg_attn contributors. All rights reserved.
"""ONNX export of every model family, checked in ONNX Runtime against mmseg's predict."""
import copy
import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from mmseg.datasets import CityscapesDataset

from mmseg_attn.deployment import (
    ExportableAdaptiveAvgPool2d,
    ExportError,
    SegmentorExportWrapper,
    build_metadata,
    create_session,
    export_onnx,
    read_metadata,
    replace_adaptive_pools,
    verify_onnx,
)
from mmseg_attn.utils.torch_compat import ONNX_DYNAMO_EXPORT
from tests.families import FAMILIES, tiny_segmentor

SHAPE = (64, 96)
# not a multiple of 32 (nor of 8) in either axis
SECOND_SHAPE = (52, 75)


@pytest.mark.parametrize('family', list(FAMILIES))
def test_family_exports_and_matches_pytorch(family, tmp_path):
    model = tiny_segmentor(family)
    static = str(tmp_path / 'static.onnx')
    export_onnx(model, static, SHAPE)
    (report, ) = verify_onnx(static, model, [SHAPE])
    assert report['rel_diff'] <= 1e-4
    dims = onnx.load(static).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, *SHAPE]

    dynamic = str(tmp_path / 'dynamic.onnx')
    export_onnx(model, dynamic, SHAPE, dynamic=True)
    dims = onnx.load(dynamic).graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param and dims[3].dim_param
    reports = verify_onnx(dynamic, model, [SHAPE, SECOND_SHAPE])
    assert [r['shape'] for r in reports] == [SHAPE, SECOND_SHAPE]
    assert all(r['rel_diff'] <= 1e-4 for r in reports)


@pytest.mark.parametrize('family,dynamic', [('bisenet_mmseg', False), ('pspnet_se', True)])
def test_argmax_output_equals_pytorch_argmax(family, dynamic, tmp_path):
    model = tiny_segmentor(family)
    file = str(tmp_path / 'argmax.onnx')
    export_onnx(model, file, SHAPE, dynamic=dynamic, output='argmax')
    session = create_session(file)
    shapes = [SHAPE, SECOND_SHAPE] if dynamic else [SHAPE]
    for shape in shapes:
        x = torch.randn(1, 3, *shape)
        (labels, ) = session.run(None, {'input': x.numpy()})
        assert labels.dtype == np.int64 and labels.shape == (x.shape[0], *shape)
        with torch.no_grad():
            logits = SegmentorExportWrapper(model)(x)
        expected = logits.argmax(1).numpy()
        top2 = logits.topk(2, dim=1).values
        decided = (top2[:, 0] - top2[:, 1]).numpy() > 1e-5
        assert decided.mean() > 0.99
        np.testing.assert_array_equal(labels[decided], expected[decided])
    # and the verifier against mmseg's predict (pred_sem_seg) agrees
    reports = verify_onnx(file, model, shapes)
    assert all(r['mismatches'] == 0 and r['output'] == 'argmax' for r in reports)


@pytest.mark.skipif(not ONNX_DYNAMO_EXPORT, reason=f'torch {torch.__version__} has no '
                    'torch.onnx.export(dynamo=True) (torch >= 2.5)')
def test_dynamo_exporter(tmp_path):
    """torch's torch.export-based exporter (slow on a CPU: one static export)."""
    model = tiny_segmentor('fcn_se_cbam')
    file = str(tmp_path / 'dynamo.onnx')
    meta = export_onnx(model, file, SHAPE, dynamo=True)
    assert read_metadata(file)['mean'] == json.loads(meta['mean'])
    (report, ) = verify_onnx(file, model, [SHAPE])
    assert report['rel_diff'] <= 1e-4


def test_metadata(tmp_path):
    model = tiny_segmentor('bisenet_paper')
    file = str(tmp_path / 'model.onnx')
    meta = export_onnx(model, file, SHAPE, dynamic=True, output='argmax', opset=17)
    read = read_metadata(file)
    assert set(meta) <= set(read)
    pre = model.data_preprocessor
    assert read['mean'] == pytest.approx(pre.mean.flatten().tolist())
    assert read['std'] == pytest.approx(pre.std.flatten().tolist())
    assert read['bgr_to_rgb'] is True and read['channel_order'] == 'rgb'
    assert read['input_layout'] == 'NCHW' and read['output_layout'] == 'NHW'
    assert read['output'] == 'argmax' and read['dynamic_shape'] is True
    assert read['num_classes'] == 19 and read['export_shape'] == list(SHAPE)
    assert read['classes'] == list(CityscapesDataset.METAINFO['classes'])
    assert read['palette'] == [list(c) for c in CityscapesDataset.METAINFO['palette']]
    assert read['align_corners'] is False and read['test_mode'] == 'whole'
    assert read['config'] == 'deploy_bisenet_paper_tiny.py'
    proto = onnx.load(file)
    assert proto.opset_import[0].version == 17 or any(
        o.domain in ('', 'ai.onnx') and o.version == 17 for o in proto.opset_import)
    # a config with only a training dataset: its class names (as the pictures
    # take them); without any dataset: no class names, the rest is there
    model = copy.copy(tiny_segmentor('fcn_se_cbam'))
    model.cfg = model.cfg.copy()
    model.cfg.pop('test_dataloader')
    model.cfg.pop('val_dataloader')
    meta = build_metadata(model)
    assert json.loads(meta['classes']) == list(CityscapesDataset.METAINFO['classes'])
    model.cfg.pop('train_dataloader')
    meta = build_metadata(model)
    assert 'classes' not in meta and 'palette' not in meta
    assert json.loads(meta['num_classes']) == 19 and meta['output'] == 'logits'


def test_export_leaves_the_model_untouched(tmp_path):
    model = tiny_segmentor('pspnet_se')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    export_onnx(model, str(tmp_path / 'm.onnx'), SHAPE)
    assert [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)] == pools
    assert not any(isinstance(m, ExportableAdaptiveAvgPool2d) for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training


@pytest.mark.parametrize('out', [1, 2, 3, 6, (2, 5), (None, 3)])
@pytest.mark.parametrize('size', [(1, 1), (4, 4), (7, 13), (12, 18), (5, 3)])
def test_exportable_adaptive_pool_equals_torch(out, size):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    expected = nn.AdaptiveAvgPool2d(out)(x)
    torch.testing.assert_close(ExportableAdaptiveAvgPool2d(out)(x), expected)


def test_replace_adaptive_pools_keeps_global_pools():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.AdaptiveAvgPool2d(3)),
                          nn.AdaptiveAvgPool2d((1, 1)))
    assert replace_adaptive_pools(model) == 1
    assert isinstance(model[0], nn.AdaptiveAvgPool2d)
    assert isinstance(model[1][0], ExportableAdaptiveAvgPool2d)
    assert isinstance(model[2], nn.AdaptiveAvgPool2d)


def test_clear_errors(tmp_path):
    model = tiny_segmentor('fcn_se_cbam')
    file = str(tmp_path / 'm.onnx')
    with pytest.raises(ValueError, match="output must be one of .*'logits', 'argmax'.*got 'probs'"):
        export_onnx(model, file, SHAPE, output='probs')
    with pytest.raises(ValueError, match='shape must be two positive ints'):
        export_onnx(model, file, (64, 0))
    with pytest.raises(ValueError, match='shape must be two positive ints'):
        export_onnx(model, file, (64, ))
    with pytest.raises(ValueError, match='output must be one of'):
        SegmentorExportWrapper(model, output='labels')
    with pytest.raises(ExportError, match='only mmseg EncoderDecoder segmentors .* got a Conv2d'):
        SegmentorExportWrapper(nn.Conv2d(3, 3, 1))
    with pytest.raises(FileNotFoundError, match='missing.onnx'):
        verify_onnx(str(tmp_path / 'missing.onnx'), model, [SHAPE])


def test_unrunnable_shape_is_named(tmp_path):

    class Picky(nn.Module):

        def forward(self, x):
            if x.shape[-1] % 32:
                raise RuntimeError('Sizes of tensors must match in dimension 3')
            return x

    model = tiny_segmentor('fcn_se_cbam')
    original = model.backbone
    model.backbone = nn.Sequential(Picky(), original)
    try:
        with pytest.raises(ExportError, match=r'cannot run on an input of 64 x 90 .*Sizes of '
                           r'tensors.*choose another --shape'):
            export_onnx(model, str(tmp_path / 'm.onnx'), (64, 90))
    finally:
        model.backbone = original
