# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict
from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS

from mmseg_attn.models.backbones import AttentionBackbone
from mmseg_attn.models.layers import CBAM, SqueezeExcitation
from tests.utils import import_mmpretrain_models

BN = dict(type='BN')


import_mmpretrain_models()
R18 = dict(type='ResNetV1c', depth=18, norm_cfg=BN)


def _inner_outputs(model, x):
    with torch.no_grad():
        return model.backbone(x)


def test_mmpretrain_resnet_inferred_channels():
    model = MODELS.build(dict(
        type='AttentionBackbone',
        backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(0, 1, 2, 3)),
        attention=dict(type='CBAM', ratio=4),
        indices=(2, 3)))
    assert type(model.backbone).__module__.startswith('mmpretrain')
    assert model.in_channels == (256, 512)
    assert set(model.attentions) == {'2', '3'}
    assert model.attentions['3'][0].in_channels == 512
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        inner = _inner_outputs(model, x)
        outs = model(x)
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]
    assert torch.equal(outs[0], inner[0]) and torch.equal(outs[1], inner[1])
    with torch.no_grad():
        assert torch.allclose(outs[3], model.attentions['3'](inner[3]))
    assert not torch.allclose(outs[3], inner[3])


def test_mmpretrain_mobilenet_v2_chain_per_output():
    model = AttentionBackbone(
        backbone=dict(type='mmpretrain.MobileNetV2', widen_factor=0.25, out_indices=(2, 4, 7)),
        attention=[None, dict(type='SqueezeExcitation', ratio=2),
                   [dict(type='SqueezeExcitation', ratio=4), dict(type='CBAM', ratio=4)]],
        infer_shape=(1, 3, 64, 64))
    assert model.indices == (0, 1, 2)
    assert set(model.attentions) == {'1', '2'}
    chain = model.attentions['2']
    assert [type(b) for b in chain] == [SqueezeExcitation, CBAM]
    model.train()
    x = torch.rand(2, 3, 64, 64)
    outs = model(x)
    assert [o.shape[1] for o in outs] == list(model.in_channels)
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.attentions.parameters())
    # the chain is applied in order
    model.eval()
    with torch.no_grad():
        inner = model.backbone(x)
        assert torch.allclose(model(x)[2], chain[1](chain[0](inner[2])))


def test_wrong_channels_error_names_output():
    model = AttentionBackbone(
        backbone=R18, attention=dict(type='CBAM'), indices=(1, 3), in_channels=(128, 256)).eval()
    with pytest.raises(ValueError, match=r'output 3 .*expected 256 .*found 512'):
        model(torch.rand(1, 3, 32, 32))


def test_bad_arguments():
    with pytest.raises(TypeError, match='two inputs'):
        AttentionBackbone(backbone=R18, attention=dict(type='AFF'), indices=(3, ))
    with pytest.raises(ValueError, match='indices has 7'):
        AttentionBackbone(backbone=R18, attention=dict(type='CBAM'), indices=(7, ),
                          infer_shape=(1, 3, 32, 32))
    with pytest.raises(ValueError, match='one entry per index'):
        AttentionBackbone(backbone=R18, attention=[dict(type='CBAM')], indices=(2, 3),
                          in_channels=(256, 512))
    with pytest.raises(ValueError, match='in_channels'):
        AttentionBackbone(backbone=R18, attention=dict(type='CBAM'), indices=(2, 3),
                          in_channels=(256, ))
    with pytest.raises(TypeError, match='backbone'):
        AttentionBackbone(backbone='ResNetV1c', attention=dict(type='CBAM'))
    model = AttentionBackbone(backbone=dict(R18, out_indices=(0, 1)), attention=dict(
        type='CBAM'), indices=(3, ), in_channels=(512, )).eval()
    with pytest.raises(IndexError, match='output 3'):
        model(torch.rand(1, 3, 32, 32))


def test_checkpoint_keys_are_inner_keys():
    model = AttentionBackbone(backbone=R18, attention=dict(type='CBAM'), indices=(3, ),
                              infer_shape=(1, 3, 32, 32))
    stock = ResNetV1c(depth=18, norm_cfg=BN)
    torch.nn.init.normal_(stock.layer4[1].conv1.weight)
    keys = list(model.state_dict())
    attention_keys = [k for k in keys if k.startswith('attentions.3.0.')]
    assert attention_keys
    assert [k for k in keys if k not in attention_keys] == list(stock.state_dict())

    # a plain backbone state dict loads with only the attention keys missing
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(attention_keys)
    assert torch.equal(model.backbone.layer4[1].conv1.weight, stock.layer4[1].conv1.weight)
    # the wrapper's own state dict round-trips strictly, in both loaders
    other = AttentionBackbone(backbone=R18, attention=dict(type='CBAM'), indices=(3, ),
                              in_channels=(512, ))
    other.load_state_dict(model.state_dict())
    load_state_dict(other, model.state_dict(), strict=True)
    # nested keys (as in named_parameters) are accepted as well
    nested = {f'backbone.{k}': v for k, v in stock.state_dict().items()}
    result = other.load_state_dict(nested, strict=False)
    assert result.unexpected_keys == []


def test_segmentor_checkpoint_loads_into_wrapped_segmentor():
    head = dict(type='FCNHead', in_channels=512, channels=16, num_convs=1, num_classes=3,
                norm_cfg=BN)
    plain = MODELS.build(dict(type='EncoderDecoder', backbone=R18, decode_head=head))
    wrapped = MODELS.build(dict(
        type='EncoderDecoder', decode_head=head,
        backbone=dict(type='AttentionBackbone', backbone=R18, attention=dict(type='CBAM'),
                      indices=(3, ), in_channels=(512, ))))
    result = wrapped.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(
        k.startswith('backbone.attentions.') for k in result.missing_keys)
    # and back: the wrapped checkpoint has the plain keys
    result = plain.load_state_dict(wrapped.state_dict(), strict=False)
    assert result.missing_keys == []
    assert all(k.startswith('backbone.attentions.') for k in result.unexpected_keys)


def test_inner_init_cfg_untouched(tmp_path):
    stock = ResNetV1c(depth=18, norm_cfg=BN)
    torch.nn.init.normal_(stock.layer1[0].conv1.weight)
    path = str(tmp_path / 'r18.pth')
    torch.save(stock.state_dict(), path)
    inner = dict(R18, init_cfg=dict(type='Pretrained', checkpoint=path))
    model = AttentionBackbone(backbone=inner, attention=dict(type='CBAM'), indices=(3, ),
                              in_channels=(512, ))
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint=path)
    model.init_weights()
    assert torch.equal(model.backbone.layer1[0].conv1.weight, stock.layer1[0].conv1.weight)
    # EncoderDecoder's `pretrained` becomes the inner Pretrained init
    model = AttentionBackbone(backbone=R18, attention=dict(type='CBAM'), indices=(3, ),
                              in_channels=(512, ), pretrained=path)
    model.init_weights()
    assert torch.equal(model.backbone.layer1[0].conv1.weight, stock.layer1[0].conv1.weight)


def test_inference_keeps_training_mode_and_stats():
    model = AttentionBackbone(backbone=R18, attention=dict(type='SqueezeExcitation'),
                              infer_shape=(1, 3, 32, 32))
    assert model.indices == (0, 1, 2, 3)
    assert model.in_channels == (64, 128, 256, 512)
    assert model.backbone.training
    assert int(model.backbone.layer1[0].bn1.num_batches_tracked) == 0
