# A tiny BiSeNet-shaped segmentor holding many attention block types, for the
# tests of tools/analysis_tools/visualize_attention.py, get_flops.py and benchmark.py:
# SE, CBAM (channel + spatial), pixel attention and SAR as plugins of the
# context ResNet-18 (8 base channels), ARMs and the FFM in the FFMNeck, and
# the Fully Attentional block in an FLAHead.
_base_ = './_tiny_segmentor_.py'
norm_cfg = _base_.norm_cfg  # the BN of the frame
model = dict(
    backbone=dict(
        type='BiSeNetBackbone',
        spatial_channels=(8, 8, 16),
        spatial_kernel_sizes=(3, 3, 3),
        context_out_indices=(2, 3),
        context_backbone=dict(
            type='PluginResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(0, 1, 2, 3),
            strides=(1, 2, 2, 2),
            dilations=(1, 1, 1, 1),
            plugins=[
                dict(cfg=dict(type='SqueezeExcitation', ratio=2), position='after_conv2',
                     stages=(True, False, False, False)),
                dict(cfg=dict(type='CBAM', ratio=2), position='after_conv2',
                     stages=(False, True, False, False)),
                dict(cfg=dict(type='PixelAttention'), position='after_conv2',
                     stages=(False, False, True, False)),
                dict(cfg=dict(type='SpatialAttentionRefinement'), position='after_conv2',
                     stages=(False, False, False, True)),
            ]),
        norm_cfg=norm_cfg),
    neck=dict(
        type='FFMNeck', in_channels=(16, 32, 64), out_channels=32, context_channels=16,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='FLAHead',
        in_channels=32,
        channels=16,
        in_index=0,
        num_classes=19,
        upsample_scale=1,
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
