# A tiny Semantic FPN whose top-down merges are iAFF blocks (each holding an
# AFF and MS-CAMs), on a ResNet-18 with 8 base channels, for the tests of
# tools/visualize_attention.py.
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=8,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg),
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
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Only the dataset type: the pictures take the class names and palette from it.
test_dataloader = dict(dataset=dict(type='CityscapesDataset'))
