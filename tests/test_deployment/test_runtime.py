"""mmseg_attn.deployment.runtime: the prediction brought back to the image's size
a band of rows at a time equals PyTorch's bilinear resize of the whole logits."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_attn.deployment import model_input_size, upsample_argmax


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('size', [(45, 70), (97, 33), (20, 30)])
def test_banded_upsampling_is_pytorchs(size, align_corners):
    torch.manual_seed(0)
    logits = torch.randn(1, 7, 20, 30)
    expected = F.interpolate(logits, size, mode='bilinear', align_corners=align_corners)
    expected = expected[0].argmax(0).numpy()
    top2 = F.interpolate(logits, size, mode='bilinear', align_corners=align_corners)[0].topk(
        2, dim=0).values
    decided = (top2[0] - top2[1]).numpy() > 1e-5
    for band in (1, 7, 1000):  # the result does not depend on the band
        got = upsample_argmax(logits[0].numpy(), size, align_corners, band_rows=band)
        assert got.dtype == np.uint8 and got.shape == size
        np.testing.assert_array_equal(got[decided], expected[decided])


def test_binary_and_many_classes():
    logits = np.random.RandomState(0).randn(1, 4, 5).astype(np.float32)
    np.testing.assert_array_equal(upsample_argmax(logits, (4, 5)), logits[0] > 0)
    many = np.zeros((300, 2, 2), np.float32)
    many[299] = 1
    labels = upsample_argmax(many, (4, 4))
    assert labels.dtype == np.uint16 and (labels == 299).all()


def test_model_input_size():
    static = dict(dynamic_shape=False, export_shape=[32, 48])
    assert model_input_size(static, (1000, 2000)) == (32, 48)
    pipeline = dict(dynamic_shape=True, test_resize=dict(scale=[2048, 1024], keep_ratio=True))
    assert model_input_size(pipeline, (512, 1024)) == (1024, 2048)  # as mmcv.imrescale
    fixed = dict(dynamic_shape=True, test_resize=dict(scale=[64, 32], keep_ratio=False))
    assert model_input_size(fixed, (7, 9)) == (32, 64)
    bare = dict(dynamic_shape=True)
    assert model_input_size(bare, (40, 60)) == (40, 60)
    h, w = model_input_size(bare, (10000, 20000))
    assert h * w <= 4096 * 4096 and abs(w / h - 2) < 0.01
