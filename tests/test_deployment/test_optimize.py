# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The PyTorch inference fast path: conv+BN folding, channels_last, torch.compile."""
import copy

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmseg_attn.deployment import fuse_conv_bn, optimize_for_inference
from tests.families import FAMILIES, tiny_segmentor


def _bn_count(model):
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize('family', list(FAMILIES))
def test_fast_path_matches_eager(family):
    model = tiny_segmentor(family)
    x = torch.randn(2, 3, 48, 72)
    with torch.no_grad():
        expected = model(x, mode='tensor')
    fast = copy.deepcopy(model)
    before = _bn_count(fast)
    optimize_for_inference(fast, fuse_conv_bn=True, channels_last=True)
    assert _bn_count(fast) < before / 4  # nearly every BN follows a conv
    with torch.no_grad():
        got = fast(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max())


def test_fuse_conv_bn_guards():
    # a pre-activation ConvModule (norm before conv) must not be folded
    pre = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type='BN'),
                     order=('norm', 'conv', 'act')).eval()
    post = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type='BN')).eval()
    plain = nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6), nn.ReLU()).eval()
    train_mode = nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6)).train()
    mismatched = nn.Sequential(nn.Conv2d(4, 6, 1), nn.BatchNorm2d(5)).eval()
    # BN after the activation: mmcv's fuse_conv_bn folds it across the ReLU
    after_act = nn.Sequential(nn.Conv2d(4, 6, 1), nn.ReLU(), nn.BatchNorm2d(6)).eval()
    model = nn.ModuleDict(dict(pre=pre, post=post, plain=plain, train_mode=train_mode,
                               mismatched=mismatched, after_act=after_act))
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        expected = [pre(x), post(x), plain(x), after_act(x)]
    assert fuse_conv_bn(model) == 2
    assert isinstance(pre.bn, nn.BatchNorm2d) and isinstance(post.bn, nn.Identity)
    assert isinstance(plain[1], nn.Identity)
    assert isinstance(train_mode[1], nn.BatchNorm2d) and isinstance(mismatched[1], nn.BatchNorm2d)
    assert isinstance(after_act[2], nn.BatchNorm2d)
    with torch.no_grad():
        for got, want in zip([pre(x), post(x), plain(x), after_act(x)], expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_optimize_for_inference_compile_and_errors():
    model = copy.deepcopy(tiny_segmentor('bisenet_paper'))
    x = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        expected = model(x, mode='tensor')
    torch._dynamo.reset()
    optimize_for_inference(model, fuse_conv_bn=False, compile=dict(backend='eager'), example=x)
    assert hasattr(model.extract_feat, '_torchdynamo_orig_callable') or \
        'OptimizedModule' in type(model.extract_feat).__name__ or \
        getattr(model.extract_feat, '__wrapped__', None) is not None
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), expected)
    with pytest.raises(TypeError, match='compile must be a bool or a dict'):
        optimize_for_inference(nn.Conv2d(1, 1, 1), compile='inductor')
    with pytest.raises(TypeError, match='compile and precision need an mmseg segmentor'):
        optimize_for_inference(nn.Conv2d(1, 1, 1), compile=True)


@pytest.mark.parametrize('family', ['bisenet_mmseg', 'flanet_resnet'])
def test_bf16_fast_path(family, monkeypatch):
    """bfloat16 autocast of the fast path: float32 logits close to fp32's; FLA on
    its fused kernel in bf16 (the flash kernel alone is allowed: a fallback to the
    explicit softmax path would raise)."""
    from mmseg_attn.utils import cpu
    from mmseg_attn.utils.torch_compat import sdpa_backends
    monkeypatch.setattr(cpu, '_flags', lambda: frozenset({'avx512_bf16'}))
    model = tiny_segmentor(family)
    x = torch.randn(1, 3, 48, 72)
    with torch.no_grad():
        expected = model(x, mode='tensor')
    fast = optimize_for_inference(copy.deepcopy(model), channels_last=True, precision='bf16')
    with torch.no_grad(), sdpa_backends('flash'), torch.profiler.profile() as prof:
        got = fast(x, mode='tensor')
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0.1, atol=0.1 * expected.abs().max())
    if family.startswith('flanet'):
        flash = [e for e in prof.events()
                 if e.name.startswith('aten::_scaled_dot_product_flash_attention')]
        assert flash and not any(e.name == 'aten::_softmax' for e in prof.events())


def test_precision_errors_and_warning(monkeypatch):
    from mmseg_attn.deployment import optimize
    model = copy.deepcopy(tiny_segmentor('fcn_se_cbam'))
    with pytest.raises(ValueError, match="precision must be one of \\('fp32', 'bf16', 'fp16'\\)"):
        optimize_for_inference(model, precision='int8')
    with pytest.raises(ValueError, match="'fp16' is for CUDA"):
        optimize_for_inference(model, precision='fp16')
    monkeypatch.setattr(optimize, 'native_bf16', lambda: False)
    with pytest.warns(UserWarning, match='no native bfloat16.*slower than fp32'):
        optimize_for_inference(model, precision='bf16')
