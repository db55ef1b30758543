"""mmseg_attn.visualization: the recorded maps are the ones the blocks use."""
import numpy as np
import torch
import torch.nn as nn

import mmseg_attn  # noqa: F401
from mmseg_attn.models.layers import (
    CBAM,
    AttentionRefinementModule,
    FeatureFusionModule,
    FullyAttentionalBlock,
    SqueezeExcitation,
    iAFF,
)
from mmseg_attn.visualization import AttentionRecorder, grad_cam


def test_gate_records_equal_attention_maps():
    torch.manual_seed(0)
    model = nn.Sequential(SqueezeExcitation(8, ratio=2), CBAM(8, ratio=2)).eval()
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        out = model(x)
    names = [(r.name, r.kind) for r in recorder.records]
    assert names == [('0', 'channel'), ('1.channel_attention', 'channel'),
                     ('1.spatial_attention', 'spatial')]
    with torch.no_grad():
        se = model[0].attention_map(x)[0, :, 0, 0]
        y = model[0](x)
        ca = model[1].channel_attention.attention_map(y)
        sa = model[1].spatial_attention.attention_map(y * ca)[0, 0]
    np.testing.assert_array_equal(recorder.records[0].data, se.numpy())
    np.testing.assert_array_equal(recorder.records[1].data, ca[0, :, 0, 0].numpy())
    np.testing.assert_array_equal(recorder.records[2].data, sa.numpy())
    assert recorder.records[2].containers == ['1 (CBAM)']
    # hooks are gone afterwards and did not change the output
    assert not any(m._forward_hooks for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), out, rtol=0, atol=0)


def test_arm_ffm_and_fusion_gates():
    torch.manual_seed(0)
    arm = AttentionRefinementModule(6, 4).eval()
    ffm = FeatureFusionModule(8, 4).eval()
    fusion = iAFF(4, ratio=2).eval()
    a, b = torch.randn(1, 6, 4, 4), torch.randn(1, 4, 4, 4)
    model = nn.ModuleDict(dict(arm=arm, ffm=ffm, fusion=fusion))
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        refined = arm(a)
        fused = ffm(refined, b)
        fusion(fused, b)
    kinds = [(r.name, r.block_type, r.kind) for r in recorder.records]
    # the MS-CAM weights inside iAFF are recorded by the fusion blocks that own them
    assert kinds == [('arm', 'AttentionRefinementModule', 'channel'),
                     ('ffm', 'FeatureFusionModule', 'channel'),
                     ('fusion.initial_fusion', 'AFF', 'fusion'),
                     ('fusion', 'iAFF', 'fusion')]
    assert recorder.records[2].containers == ['fusion (iAFF)']
    with torch.no_grad():
        feat = arm.conv_layer(a)
        weights = arm.atten_conv_layer(feat)[0, :, 0, 0]
        x_i = fusion.initial_fusion(fused, b)
        w = fusion.attention.attention_map(x_i)[0]
    np.testing.assert_array_equal(recorder.records[0].data, weights.numpy())
    np.testing.assert_array_equal(recorder.records[3].data, w.numpy())
    assert recorder.records[0].data.shape == (4, )
    assert recorder.records[2].data.shape == (4, 4, 4)


def _fla_attention(block, x):
    """Column and row attentions of image 0, written from the FLA formula."""
    prior_h = block.conv1(x.mean(dim=3).transpose(1, 2))[0]  # (H, C): one prior per row
    prior_w = block.conv2(x.mean(dim=2).transpose(1, 2))[0]  # (W, C): one per column
    cols = torch.stack([(x[0, :, :, w] @ prior_h).softmax(-1) for w in range(x.shape[3])])
    rows = torch.stack([(x[0, :, h, :] @ prior_w).softmax(-1) for h in range(x.shape[2])])
    return cols, rows


def _focus(attention):
    c = attention.shape[-1]
    entropy = -(attention * attention.clamp_min(1e-12).log()).sum(-1).mean(-1)
    return 1 - entropy / np.log(c)


def test_fla_attention_summary():
    torch.manual_seed(0)
    block = FullyAttentionalBlock(6, chunk_size=2).eval()
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64)
    block.double()
    with torch.no_grad(), AttentionRecorder(block) as recorder:
        out = block(x)
    assert not block.attention_probe._forward_hooks  # the hook is gone
    (record, ) = recorder.records
    assert record.kind == 'fla'
    with torch.no_grad():
        cols, rows = _fla_attention(block, x)
        torch.testing.assert_close(block(x), out, rtol=0, atol=0)
    data = record.data
    assert data['col_focus'].shape == (5, ) and data['row_focus'].shape == (3, )
    np.testing.assert_allclose(data['col_attention'], cols.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(data['row_attention'], rows.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(data['col_focus'], _focus(cols).numpy(), rtol=1e-5)
    np.testing.assert_allclose(data['row_focus'], _focus(rows).numpy(), rtol=1e-5)


def test_grad_cam_is_the_gradient_weighted_activation():
    """On a linear 'segmentor' Grad-CAM has a closed form."""

    class Head(nn.Module):
        num_classes = 3
        in_index = 0

    class Tiny(nn.Module):
        with_neck = False

        def __init__(self):
            super().__init__()
            self.backbone = nn.Conv2d(2, 4, 1)
            self.cls = nn.Conv2d(4, 3, 1)
            self.decode_head = Head()

        def forward(self, inputs, mode='tensor'):
            return self.cls(self.backbone(inputs))

    torch.manual_seed(0)
    model = Tiny().eval()
    x = torch.randn(1, 2, 3, 4)
    cam, info = grad_cam(model, x, class_id=1)
    with torch.no_grad():
        act = model.backbone(x)
        mask = (model.cls(act).argmax(1) == 1).float()
        if mask.sum() == 0:
            mask = torch.ones_like(mask)
        # dS/dA_k at each pixel = W[1, k] * mask; averaged over pixels
        weights = model.cls.weight[1, :, 0, 0] * mask.mean()
        expected = torch.relu((weights[:, None, None] * act[0]).sum(0))
    np.testing.assert_allclose(cam, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert info['layer'] == 'backbone' and info['index'] is None
    assert info['activation_shape'] == [1, 4, 3, 4]


def test_grad_cam_of_a_frozen_model():
    """Frozen weights (requires_grad False everywhere) still give a Grad-CAM."""

    class Head(nn.Module):
        num_classes = 2
        in_index = 1

    class Neck(nn.Conv2d):

        def forward(self, x):  # a tuple of levels, as a neck's
            return x, super().forward(x)

    class Tiny(nn.Module):
        with_neck = True

        def __init__(self):
            super().__init__()
            self.neck = Neck(2, 3, 1)
            self.cls = nn.Conv2d(3, 2, 1)
            self.decode_head = Head()

        def forward(self, inputs, mode='tensor'):
            return self.cls(self.neck(inputs)[1])

    torch.manual_seed(0)
    model = Tiny().eval().requires_grad_(False)
    x = torch.randn(1, 2, 3, 4)
    cam, info = grad_cam(model, x, class_id=0)
    assert info['layer'] == 'neck' and info['index'] == 1
    act = model.neck(x)[1]
    mask = (model.cls(act).argmax(1) == 0).float()
    mask = mask if mask.sum() else torch.ones_like(mask)
    weights = model.cls.weight[0, :, 0, 0] * mask.mean()
    expected = torch.relu((weights[:, None, None] * act[0]).sum(0))
    np.testing.assert_allclose(cam, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
