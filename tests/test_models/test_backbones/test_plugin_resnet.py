# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.models.backbones import ResNetV1c, ResNetV1d
from mmseg.models.backbones.resnet import Bottleneck
from mmseg.registry import MODELS

from mmseg_attn.models.backbones import PluginResNet, PluginResNetV1c
from mmseg_attn.models.backbones.plugin_resnet import PluginBasicBlock, PluginBottleneck
from mmseg_attn.models.layers import CBAM, SqueezeExcitation

BN = dict(type='BN')
SE = SqueezeExcitation._abbr_


def _cbam(position='after_conv2', **kwargs):
    return dict(cfg=dict(type='CBAM', ratio=4), position=position, **kwargs)


def _randomize_bn(module):
    """Give every BN non-trivial statistics so eval outputs are informative."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)


def test_mmseg_resnet_rejects_basic_block_plugins():
    # the defect this backbone exists for: mmseg's ResNet-18 has no plugins
    with pytest.raises(AssertionError):
        ResNetV1c(depth=18, plugins=[_cbam()], norm_cfg=BN)


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2'])
def test_basic_block_plugins(position):
    model = PluginResNetV1c(depth=18, plugins=[_cbam(position)], norm_cfg=BN)
    blocks = [m for m in model.modules() if isinstance(m, PluginBasicBlock)]
    assert len(blocks) == 8
    for block in blocks:
        assert isinstance(block.cbam, CBAM)
        assert block.cbam.in_channels == block.conv2.out_channels
        names = getattr(block, f'{position}_plugin_names')
        assert names == ['cbam']
    model.train()
    outs = model(torch.rand(2, 3, 33, 47))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 9, 12), (2, 128, 5, 6), (2, 256, 3, 3),
                                              (2, 512, 2, 2)]
    # every plugin takes part in the forward pass
    sum(o.sum() for o in outs).backward()
    for name, p in model.named_parameters():
        if '.cbam.' in name:
            assert p.grad is not None, name


def test_basic_block_plugin_is_on_residual_branch():
    block = PluginBasicBlock(8, 8, plugins=[dict(cfg=dict(type='SqueezeExcitation', ratio=2),
                                                 position='after_conv2')])
    block.eval()
    _randomize_bn(block)
    x = torch.rand(2, 8, 9, 7)
    with torch.no_grad():
        branch = block.norm2(block.conv2(block.relu(block.norm1(block.conv1(x)))))
        expected = block.relu(getattr(block, SE)(branch) + x)
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_stages_select_blocks():
    model = PluginResNet(
        depth=18, norm_cfg=BN,
        plugins=[_cbam(stages=(False, False, True, True))])
    has = [hasattr(getattr(model, f'layer{i}')[0], 'cbam') for i in range(1, 5)]
    assert has == [False, False, True, True]


def _chain_block(block_cls, order, inplanes=16, planes=16, position='after_conv2', seed=1):
    cfgs = dict(se=dict(type='SqueezeExcitation', ratio=4),
                cbam=dict(type='CBAM', ratio=4, kernel_size=3))
    plugins = [dict(cfg=cfgs[k], position=position) for k in order]
    torch.manual_seed(seed)
    block = block_cls(inplanes, planes, plugins=plugins, norm_cfg=BN)
    block.eval()
    _randomize_bn(block)
    return block


def test_two_plugins_chained_in_order_basic_block():
    block = _chain_block(PluginBasicBlock, ['se', 'cbam'])
    assert block.after_conv2_plugin_names == [SE, 'cbam']
    x = torch.rand(2, 16, 11, 13)
    with torch.no_grad():
        branch = block.norm2(block.conv2(block.relu(block.norm1(block.conv1(x)))))
        by_hand = block.relu(block.cbam(getattr(block, SE)(branch)) + x)
        out = block(x)
        assert torch.allclose(out, by_hand, atol=1e-6)

        swapped = _chain_block(PluginBasicBlock, ['cbam', 'se'])
        swapped.load_state_dict(block.state_dict())
        assert swapped.after_conv2_plugin_names == ['cbam', SE]
        swapped_by_hand = block.relu(getattr(block, SE)(block.cbam(branch)) + x)
        assert torch.allclose(swapped(x), swapped_by_hand, atol=1e-6)
        assert not torch.allclose(swapped(x), out, atol=1e-4)


def test_two_plugins_chained_in_order_bottleneck():
    block = _chain_block(PluginBottleneck, ['se', 'cbam'], inplanes=32, planes=8,
                         position='after_conv3')
    x = torch.rand(2, 32, 9, 9)
    with torch.no_grad():
        out = block.relu(block.norm1(block.conv1(x)))
        out = block.relu(block.norm2(block.conv2(out)))
        branch = block.norm3(block.conv3(out))
        by_hand = block.relu(block.cbam(getattr(block, SE)(branch)) + x)
        assert torch.allclose(block(x), by_hand, atol=1e-6)

        # mmseg's Bottleneck with the same weights keeps only the last plugin's output
        # (mmcv's build_plugin_layer needs the default scope; ours does not)
        with DefaultScope.overwrite_default_scope('mmseg'):
            stock = Bottleneck(32, 8, norm_cfg=BN, plugins=[
                dict(cfg=dict(type='SqueezeExcitation', ratio=4), position='after_conv3'),
                dict(cfg=dict(type='CBAM', ratio=4, kernel_size=3), position='after_conv3')])
        stock.load_state_dict(block.state_dict())
        stock.eval()
        only_last = block.relu(block.cbam(branch) + x)
        assert torch.allclose(stock(x), only_last, atol=1e-6)
        assert not torch.allclose(block(x), stock(x), atol=1e-4)

    # so the first plugin of mmseg's block gets no gradient; every plugin of ours does
    for model in (stock, block):
        model.zero_grad()
        model(x).sum().backward()
    se_grads = [p.grad is not None for p in getattr(stock, SE).parameters()]
    assert se_grads and not any(se_grads)
    assert all(p.grad is not None for p in block.parameters())


def test_same_type_twice_needs_postfix():
    twice = [_cbam(), _cbam()]
    with pytest.raises(ValueError, match='postfix'):
        PluginResNetV1c(depth=18, plugins=twice, norm_cfg=BN)
    twice = [
        dict(cfg=dict(type='CBAM', postfix='_a'), position='after_conv2'),
        dict(cfg=dict(type='CBAM', postfix='_b'), position='after_conv2'),
    ]
    model = PluginResNetV1c(depth=18, plugins=twice, norm_cfg=BN)
    assert model.layer1[0].after_conv2_plugin_names == ['cbam_a', 'cbam_b']


def test_invalid_plugins():
    with pytest.raises(ValueError, match='after_conv3.*BasicBlock'):
        PluginResNetV1c(depth=18, plugins=[_cbam('after_conv3')], norm_cfg=BN)
    with pytest.raises(ValueError, match='after_conv4.*Bottleneck'):
        PluginResNetV1c(depth=50, plugins=[_cbam('after_conv4')], norm_cfg=BN)
    with pytest.raises(ValueError, match='position'):
        PluginResNetV1c(depth=18, plugins=[dict(cfg=dict(type='CBAM'))], norm_cfg=BN)
    with pytest.raises(ValueError, match='stages'):
        PluginResNetV1c(depth=18, plugins=[_cbam(stages=(True, False))], norm_cfg=BN)
    with pytest.raises(TypeError, match='plugins'):
        PluginResNetV1c(depth=18, plugins=dict(cfg=dict(type='CBAM')), norm_cfg=BN)
    with pytest.raises(ValueError, match='in_channels'):
        PluginResNetV1c(depth=18, norm_cfg=BN, plugins=[
            dict(cfg=dict(type='CBAM', in_channels=3), position='after_conv2')])


@pytest.mark.parametrize('stock_cls,plugin_type,depth,position', [
    (ResNetV1c, 'PluginResNetV1c', 18, 'after_conv2'),
    (ResNetV1d, 'PluginResNetV1d', 18, 'after_conv1'),
    (ResNetV1c, 'PluginResNetV1c', 50, 'after_conv3'),
])
def test_stock_checkpoint_loads(stock_cls, plugin_type, depth, position):
    stock = stock_cls(depth=depth, norm_cfg=BN)
    model = MODELS.build(dict(type=plugin_type, depth=depth, norm_cfg=BN,
                              plugins=[_cbam(position)]))
    plugin_keys = {k for k in model.state_dict() if '.cbam.' in k}
    assert plugin_keys
    assert set(model.state_dict()) - plugin_keys == set(stock.state_dict())
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert set(result.missing_keys) == plugin_keys


def test_pretrained_init_cfg_applies(tmp_path):
    stock = ResNetV1c(depth=18, norm_cfg=BN)
    torch.nn.init.normal_(stock.layer3[1].conv2.weight)
    path = str(tmp_path / 'resnet18_v1c.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    model = PluginResNetV1c(depth=18, norm_cfg=BN, plugins=[_cbam()],
                            init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    stock_sd = stock.state_dict()
    for key, value in model.state_dict().items():
        if '.cbam.' not in key:
            assert torch.equal(value, stock_sd[key]), key


def test_without_plugins_matches_mmseg():
    stock = ResNetV1c(depth=18, norm_cfg=BN)
    model = PluginResNetV1c(depth=18, norm_cfg=BN)
    model.load_state_dict(stock.state_dict())
    stock.eval()
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(model(x), stock(x)):
            assert torch.allclose(a, b)


def test_zero_init_residual_kept():
    model = PluginResNetV1c(depth=18, norm_cfg=BN, plugins=[_cbam()])
    model.init_weights()
    assert torch.count_nonzero(model.layer2[0].norm2.weight) == 0
    assert torch.count_nonzero(model.layer2[0].norm1.weight) > 0


def test_with_cp_and_se_in_bottleneck():
    block = PluginBottleneck(
        64, 16, norm_cfg=BN, with_cp=True,
        plugins=[dict(cfg=dict(type='SqueezeExcitation'), position='after_conv3')])
    assert isinstance(getattr(block, SE), SqueezeExcitation)
    x = torch.rand(2, 64, 8, 8, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 64, 8, 8)
    out.sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    assert x.grad is not None
