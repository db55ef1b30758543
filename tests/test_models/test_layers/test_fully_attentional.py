# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseg_attn.models.layers import FullyAttentionalBlock


class RefFullyAttentionalBlock(nn.Module):
    """The FLA block of the reference code, transcribed literally
    (``norm_layer`` BatchNorm2d instead of SyncBatchNorm).

    ``fix_batch=True`` replaces ``encode_h.repeat(width, 1, 1)`` by
    ``repeat_interleave``, which pairs every column with the priors of its
    own image (the reference pairs it with image ``i mod N``).
    """

    def __init__(self, plane, norm_layer=nn.BatchNorm2d, fix_batch=False):
        super().__init__()
        self.conv1 = nn.Linear(plane, plane)
        self.conv2 = nn.Linear(plane, plane)
        self.conv = nn.Sequential(
            nn.Conv2d(plane, plane, 3, stride=1, padding=1, bias=False), norm_layer(plane),
            nn.ReLU())
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.fix_batch = fix_batch

    def forward(self, x):
        batch_size, _, height, width = x.size()
        feat_h = x.permute(0, 3, 1, 2).contiguous().view(batch_size * width, -1, height)
        feat_w = x.permute(0, 2, 1, 3).contiguous().view(batch_size * height, -1, width)
        encode_h = self.conv1(
            F.avg_pool2d(x, [1, width]).view(batch_size, -1, height).permute(0, 2,
                                                                            1).contiguous())
        encode_w = self.conv2(
            F.avg_pool2d(x, [height, 1]).view(batch_size, -1, width).permute(0, 2,
                                                                            1).contiguous())
        if self.fix_batch:
            energy_h = torch.matmul(feat_h, encode_h.repeat_interleave(width, 0))
            energy_w = torch.matmul(feat_w, encode_w.repeat_interleave(height, 0))
        else:
            energy_h = torch.matmul(feat_h, encode_h.repeat(width, 1, 1))
            energy_w = torch.matmul(feat_w, encode_w.repeat(height, 1, 1))
        full_relation_h = self.softmax(energy_h)  # [b*w, c, c]
        full_relation_w = self.softmax(energy_w)
        full_aug_h = torch.bmm(full_relation_h, feat_h).view(batch_size, width, -1,
                                                             height).permute(0, 2, 3, 1)
        full_aug_w = torch.bmm(full_relation_w, feat_w).view(batch_size, height, -1,
                                                             width).permute(0, 2, 1, 3)
        out = self.gamma * (full_aug_h + full_aug_w) + x
        out = self.conv(out)
        return out


def _pair(channels, dtype, fix_batch=False, gamma=0.7):
    torch.manual_seed(0)
    ref = RefFullyAttentionalBlock(channels, fix_batch=fix_batch).to(dtype)
    block = FullyAttentionalBlock(channels).to(dtype)
    with torch.no_grad():
        ref.gamma.fill_(gamma)  # 0 at init would hide the attention
        for p in ref.parameters():
            if p.dim() > 0 and p is not ref.gamma:
                p.add_(torch.randn_like(p) * 0.1)
        block.conv1.load_state_dict(ref.conv1.state_dict())
        block.conv2.load_state_dict(ref.conv2.state_dict())
        block.gamma.copy_(ref.gamma)
        block.conv.conv.load_state_dict(ref.conv[0].state_dict())
        block.conv.bn.load_state_dict(ref.conv[1].state_dict())
    return ref, block


def test_fla_gamma_starts_at_zero():
    block = FullyAttentionalBlock(8)
    assert block.gamma.item() == 0
    assert block.gamma.shape == (1, )


def test_fla_batch1_matches_literal_reference(dtype, training, assert_same):
    ref, block = _pair(16, dtype)
    ref.train(training)
    block.train(training)
    x = torch.randn(1, 16, 7, 5, dtype=dtype)
    assert_same(block(x), ref(x))


def test_fla_batch_equals_stacked_single_images(dtype, assert_same):
    ref, block = _pair(16, dtype)
    block.eval()  # BN statistics would otherwise couple the images
    x = torch.randn(3, 16, 6, 5, dtype=dtype)
    singles = torch.cat([block(x[i:i + 1]) for i in range(3)])
    assert_same(block(x), singles)
    # the batch-fixed reference agrees; the literal one does not
    fixed = _pair(16, dtype, fix_batch=True)[0].eval()
    assert_same(block(x), fixed(x))
    assert not torch.allclose(block(x), ref.eval()(x), atol=1e-3)


@pytest.mark.parametrize('chunk_size', [1, 2, 4, 100])
@pytest.mark.parametrize('grad', [True, False])
def test_fla_chunked_equals_default(chunk_size, grad, dtype, assert_same):
    _, block = _pair(16, dtype)
    chunked = FullyAttentionalBlock(16, chunk_size=chunk_size).to(dtype)
    chunked.load_state_dict(block.state_dict())
    block.eval()
    chunked.eval()
    x = torch.randn(2, 16, 7, 5, dtype=dtype)
    with torch.set_grad_enabled(grad):
        assert_same(chunked(x), block(x))


def test_fla_chunked_gradients_equal_default(assert_same):
    _, block = _pair(8, torch.float64)
    chunked = FullyAttentionalBlock(8, chunk_size=2).double()
    chunked.load_state_dict(block.state_dict())
    x = torch.randn(2, 8, 5, 3, dtype=torch.float64)
    grads = []
    for module in (block, chunked):
        inp = x.clone().requires_grad_()
        module(inp).square().sum().backward()
        grads.append([inp.grad] + [p.grad for p in module.parameters()])
    for expected, actual in zip(*grads):
        assert_same(actual, expected)


def test_fla_output_may_be_changed_in_place():
    """mmseg's Bottleneck adds the identity to a plugin's output in place and
    applies ReLU in place; the block's backward must not depend on it."""
    _, block = _pair(8, torch.float32)
    x = torch.randn(2, 8, 4, 3, requires_grad=True)
    out = block(x)
    out += 1
    out.relu_()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_fla_inference_path_equals_training_path(dtype, assert_same):
    """The in-place softmax used without gradients gives the same result."""
    _, block = _pair(16, dtype)
    block.eval()
    x = torch.randn(2, 16, 5, 6, dtype=dtype)
    with torch.no_grad():
        no_grad_out = block(x)
    assert_same(no_grad_out, block(x).detach())


def test_fla_gradcheck():
    _, block = _pair(4, torch.float64, gamma=0.5)
    block.eval()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x, ), eps=1e-6, atol=1e-5, fast_mode=True)


def test_fla_bfloat16_autocast_is_finite():
    _, block = _pair(32, torch.float32)
    block.eval()
    x = torch.randn(2, 32, 9, 7) * 20  # large energies
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = block(x)
        chunked = FullyAttentionalBlock(32, chunk_size=3).eval()
        chunked.load_state_dict(block.state_dict())
        out_chunked = chunked(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all() and torch.isfinite(out_chunked).all()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_grad = block(x)
    assert torch.isfinite(out_grad).all()


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(in_channels=8, chunk_size=0), ValueError, 'chunk_size'),
    (dict(in_channels=8, chunk_size=2.5), TypeError, 'chunk_size'),
])
def test_fla_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FullyAttentionalBlock(**kwargs)
