# BiSeNet as in the paper and its reference code (Yu et al., ECCV 2018,
# https://arxiv.org/abs/1808.00897): a spatial path of three stride-2 3x3
# conv-norm-act blocks (64, 128, 256 channels, 1/8), a ResNet-18 context path
# whose 1/16 and 1/32 stages are refined by ARMs (pooled 1x1 conv + sigmoid,
# no norm), the globally pooled 1/32 features multiplied in, both stages
# upsampled bilinearly to 1/8 and concatenated, a FFM (3x3 conv-norm-act,
# two pooled 1x1 convs with bias, sigmoid, residual), a 1x1 classifier and
# two 1x1 auxiliary classifiers on the refined context stages.
# Departure from the reference code: the FFM has its own width (256) instead
# of num_classes channels, so the neck does not depend on the dataset.
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
        spatial_channels=(64, 128, 256),
        spatial_kernel_sizes=(3, 3, 3),
        context_out_indices=(2, 3),
        context_backbone=dict(
            type='ResNetV1c',
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
        in_channels=(256, 256, 512),
        out_channels=256,
        context_channels=None,
        context_fusion='concat',
        global_context='mul',
        global_conv=False,
        upsample_mode='bilinear',
        align_corners=False,
        arm_cfg=dict(with_conv=False, attn_norm=False),
        ffm_cfg=dict(kernel_size=3, attn_convs=2, ratio=1, attn_bias=True, attn_norm=False),
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='BiSeNetHead',
        in_channels=256,
        in_index=0,
        num_convs=0,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=[
        dict(
            type='BiSeNetHead',
            in_channels=256,
            in_index=1,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        dict(
            type='BiSeNetHead',
            in_channels=512,
            in_index=2,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
