# BiSeNet as mmseg's BiSeNetV1 computes it (mmseg's
# _base_/models/bisenetv1_r18-d32.py), rebuilt from mmseg_attn's parts:
# spatial path 7x7/3x3/3x3 stride-2 blocks plus a 1x1 block (64, 64, 64, 128),
# ARMs with a 3x3 conv to 128 channels and a normed attention conv, the pooled
# 1/32 features through a 1x1 conv-norm-act added in, a top-down sum with
# nearest upsampling and 3x3 conv heads, mmseg's FFM (one pooled 1x1
# conv-norm-act before the sigmoid), an FCN-like head (3x3 conv 256, dropout,
# classifier) and two auxiliary heads (3x3 conv 64) on the context outputs.
# Unlike mmseg's BiSeNetV1, norm_cfg reaches every layer. Checkpoints of
# mmseg's model load after tools/model_converters/bisenetv1_mmseg2attn.py.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='BiSeNetBackbone',
        in_channels=3,
        spatial_channels=(64, 64, 64, 128),
        spatial_kernel_sizes=(7, 3, 3),
        context_out_indices=(2, 3),
        context_backbone=dict(
            type='ResNet',
            in_channels=3,
            depth=18,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            dilations=(1, 1, 1, 1),
            strides=(1, 2, 2, 2),
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            contract_dilation=True),
        norm_cfg=norm_cfg,
        init_cfg=None),
    neck=dict(
        type='FFMNeck',
        in_channels=(128, 256, 512),
        out_channels=256,
        context_channels=128,
        context_fusion='sum',
        global_context='add',
        global_conv=True,
        upsample_mode='nearest',
        arm_cfg=dict(with_conv=True, attn_norm=True),
        ffm_cfg=dict(kernel_size=1, attn_convs=1, attn_bias=False, attn_norm=True),
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='BiSeNetHead',
        in_channels=256,
        in_index=0,
        channels=256,
        num_convs=1,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=[
        dict(
            type='BiSeNetHead',
            in_channels=128,
            in_index=1,
            channels=64,
            num_convs=1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        dict(
            type='BiSeNetHead',
            in_channels=128,
            in_index=2,
            channels=64,
            num_convs=1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
