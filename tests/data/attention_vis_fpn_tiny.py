# A tiny Semantic FPN whose top-down merges are iAFF blocks (each holding an
# AFF and MS-CAMs), on a ResNet-18 with 8 base channels, for the tests of
# tools/analysis_tools/visualize_attention.py.
_base_ = './_tiny_segmentor_.py'
model = dict(
    backbone=dict(_base_.tiny_resnet, type='ResNetV1c', out_indices=(0, 1, 2, 3)),
    neck=dict(
        type='AFFFPN',
        in_channels=[8, 16, 32, 64],
        out_channels=16,
        num_outs=4,
        fusion_cfg=dict(type='iAFF', ratio=4)),
    decode_head=dict(
        type='FPNHead',
        in_channels=[16, 16, 16, 16],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=16,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=_base_.norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
