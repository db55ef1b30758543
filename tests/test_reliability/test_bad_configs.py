"""Wrong settings stop with a message naming what was expected and what was
found: a block's in_channels, an attention type, one sample per device through
a norm on a pooled map, a ratio, a checkpoint of another head."""
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_attn  # noqa: F401
from mmseg_attn.models.layers import build_attention
from mmseg_attn.models.layers.builder import registered_attention_blocks
from tests.utils import REPO_ROOT, toy_config

DEMO_CONFIG = 'tests/data/demo_tiny.py'  # the demo at 1/8 of its widths
TWO_INPUTS = {'AFF', 'iAFF', 'FeatureFusionModule'}
BLOCKS = registered_attention_blocks()


def test_every_block_is_covered():
    assert len(BLOCKS) >= 10 and TWO_INPUTS <= set(BLOCKS)


@pytest.mark.parametrize('name', sorted(set(BLOCKS) - TWO_INPUTS))
def test_block_given_wrong_channels_names_itself(name):
    block = build_attention(dict(type=name), 8).eval()
    assert block(torch.randn(2, 8, 5, 7)).shape[-2:] == (5, 7)
    with pytest.raises(ValueError) as info:
        block(torch.randn(2, 6, 5, 7))
    message = str(info.value)
    assert message.startswith(f'{name} was built with in_channels=8')
    assert 'got a tensor of shape (2, 6, 5, 7)' in message
    with pytest.raises(ValueError, match=rf'{name} .* shape \(6, 5, 7\)'):
        block(torch.randn(6, 5, 7))


@pytest.mark.parametrize('name', sorted(TWO_INPUTS))
def test_fusion_block_given_wrong_channels_names_itself(name):
    block = build_attention(dict(type=name), 8).eval()
    if name == 'FeatureFusionModule':  # in_channels is C_s + C_c
        good, bad = (torch.randn(2, 4, 5, 7), torch.randn(2, 4, 5, 7)), \
            (torch.randn(2, 4, 5, 7), torch.randn(2, 2, 5, 7))
    else:
        good, bad = (torch.randn(2, 8, 5, 7), torch.randn(2, 8, 5, 7)), \
            (torch.randn(2, 6, 5, 7), torch.randn(2, 6, 5, 7))
    block(*good)
    with pytest.raises(ValueError) as info:
        block(*bad)
    message = str(info.value)
    assert message.startswith(name) and 'in_channels = 8' in message
    assert str(tuple(bad[1].shape)) in message


# blocks that normalise a globally pooled map with BN (and how to build them so)
POOLED_NORM = {
    'SqueezeExcitation': dict(ratio=2, norm_cfg=dict(type='BN')),
    'ChannelAttention': dict(ratio=2, norm_cfg=dict(type='BN')),
    'AttentionRefinementModule': dict(),
    'FeatureFusionModule': dict(attn_convs=1, attn_norm=True),
    'MSCAM': dict(),
    'AFF': dict(),
    'iAFF': dict(),
}


def _pooled_inputs(name, n):
    if name == 'FeatureFusionModule':
        return torch.randn(n, 4, 5, 7), torch.randn(n, 4, 5, 7)
    if name in TWO_INPUTS:
        return torch.randn(n, 8, 5, 7), torch.randn(n, 8, 5, 7)
    return (torch.randn(n, 8, 5, 7), )


@pytest.mark.parametrize('name', sorted(POOLED_NORM))
def test_one_sample_through_a_pooled_norm_names_the_block(name):
    block = build_attention(dict(type=name, **POOLED_NORM[name]), 8).train()
    block(*_pooled_inputs(name, 2))  # two samples are fine
    with pytest.raises(ValueError) as info:
        block(*_pooled_inputs(name, 1))
    message = str(info.value)
    assert message.startswith(name) and 'more than one sample per device' in message
    assert 'batch_size' in message and "type='GN'" in message
    block.eval()(*_pooled_inputs(name, 1))  # inference uses the running statistics
    # a norm that works on one sample
    gn = build_attention(
        dict(type=name, **dict(POOLED_NORM[name], norm_cfg=dict(type='GN', num_groups=1))), 8)
    gn.train()(*_pooled_inputs(name, 1))


@pytest.mark.parametrize('ratio, error', [(float('nan'), ValueError), (float('inf'), ValueError),
                                          (0, ValueError), (True, TypeError)])
def test_ratio_must_be_a_finite_positive_number(ratio, error):
    with pytest.raises(error, match='ratio'):
        build_attention(dict(type='SqueezeExcitation', ratio=ratio), 8)


def test_unknown_attention_type_lists_registered_blocks():
    with pytest.raises(KeyError) as info:
        build_attention(dict(type='CBMA'), 16)
    message = str(info.value)
    assert "unknown attention type 'CBMA'" in message
    for name in BLOCKS:
        assert name in message


def _toy(toy_cityscapes, work_dir):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.custom_hooks = Config.fromfile('configs/_base_/default_runtime.py').custom_hooks
    return toy_config(cfg, toy_cityscapes, work_dir, dataset='cityscapes', max_iters=2)


def _checkpoint_with_classes(config_path, num_classes, path):
    """A checkpoint of the config's model with another number of classes in its head."""
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(config_path)
    cfg.model.decode_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return model.state_dict()['decode_head.conv_seg.weight'].shape[1]


def _tool(name, *args):
    result = subprocess.run([sys.executable, f'tools/{name}.py', *map(str, args)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600)
    return result.returncode, result.stdout


def test_checkpoint_of_other_num_classes_is_refused(toy_cityscapes, tmp_path):
    """tools/test.py CKPT and tools/train.py with load_from name key and shapes."""
    cfg = _toy(toy_cityscapes, tmp_path)
    ckpt = tmp_path / 'seven_classes.pth'
    channels = _checkpoint_with_classes(cfg, 7, ckpt)
    expected = (f'decode_head.conv_seg.weight: checkpoint [7, {channels}, 1, 1], '
                f'model [19, {channels}, 1, 1]')

    code, out = _tool('test', cfg, ckpt, '--work-dir', tmp_path / 'test')
    assert code != 0
    assert 'CheckpointShapeMismatchError' in out and expected in out, out[-3000:]
    assert f'The checkpoint {str(ckpt)!r} does not fit the model' in out
    assert 'decode_head.conv_seg.bias: checkpoint [7], model [19]' in out
    assert 'Iter(test)' not in out  # nothing was evaluated

    code, out = _tool('train', cfg, '--work-dir', tmp_path / 'train', '--cfg-options',
                      f'load_from={ckpt}')
    assert code != 0
    assert 'CheckpointShapeMismatchError' in out and expected in out, out[-3000:]
    assert 'Iter(train)' not in out  # nothing was trained
