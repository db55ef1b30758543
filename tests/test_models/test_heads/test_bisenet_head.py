# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from mmseg_attn.models.decode_heads import BiSeNetHead

register_all_modules()


def _features(in_index_channels=((16, (9, 13)), (8, (9, 13)), (8, (5, 7))), batch=2):
    torch.manual_seed(0)
    return [torch.rand(batch, c, *size) for c, size in in_index_channels]


def test_equals_mmseg_fcn_head():
    """num_convs=1 computes what mmseg's FCNHead computes in BiSeNetV1, same names."""
    kwargs = dict(in_channels=16, channels=12, num_classes=5, num_convs=1,
                  norm_cfg=dict(type='BN'), in_index=0)
    ours = BiSeNetHead(**kwargs)
    theirs = FCNHead(concat_input=False, **kwargs)
    for m in theirs.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = _features()
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_classifier_only_form():
    head = MODELS.build(dict(type='BiSeNetHead', in_channels=8, num_classes=5, num_convs=0,
                             in_index=2)).eval()
    assert head.channels == 8
    assert isinstance(head.convs, nn.Identity)
    assert [m for m in head.modules() if isinstance(m, nn.Conv2d)] == [head.conv_seg]
    x = _features()
    with torch.no_grad():
        out = head(x)
        assert torch.equal(out, head.conv_seg(x[2]))
    assert out.shape == (2, 5, 5, 7)


@pytest.mark.parametrize('num_convs,kernel_size', [(1, 3), (2, 1), (2, 5)])
def test_conv_stack(num_convs, kernel_size):
    head = BiSeNetHead(in_channels=8, channels=6, num_classes=3, num_convs=num_convs,
                       kernel_size=kernel_size, in_index=1, norm_cfg=dict(type='BN'),
                       dropout_ratio=0.1)
    assert len(head.convs) == num_convs
    assert head.convs[0].in_channels == 8 and head.convs[-1].out_channels == 6
    assert all(c.conv.kernel_size == (kernel_size, kernel_size) for c in head.convs)
    assert isinstance(head.dropout, nn.Dropout2d)
    assert head.eval()(_features()).shape == (2, 3, 9, 13)


def test_norm_cfg_reaches_convs():
    head = BiSeNetHead(in_channels=8, channels=8, num_classes=3, num_convs=2,
                       norm_cfg=dict(type='SyncBN'))
    assert all(isinstance(c.bn, nn.SyncBatchNorm) for c in head.convs)


def test_loss_and_predict():
    head = BiSeNetHead(in_channels=16, channels=8, num_classes=4, num_convs=1, in_index=0,
                       norm_cfg=dict(type='BN'))
    x = _features()
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 72, 104)))
        sample.set_metainfo(dict(img_shape=(72, 104), pad_shape=(72, 104)))
        samples.append(sample)
    losses = head.loss(x, samples, train_cfg=dict())
    assert losses['loss_ce'] > 0
    losses['loss_ce'].backward()
    assert all(p.grad is not None for p in head.parameters())
    logits = head.eval().predict(x, [s.metainfo for s in samples], test_cfg=dict())
    assert logits.shape == (2, 4, 72, 104)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_convs=-1), 'num_convs'),
    (dict(num_convs=1.0), 'num_convs'),
    (dict(kernel_size=2), 'kernel_size'),
    (dict(num_convs=0, channels=4), 'channels'),
])
def test_bad_arguments(kwargs, match):
    args = dict(in_channels=8, channels=8, num_classes=3)
    args.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=match):
        BiSeNetHead(**args)
