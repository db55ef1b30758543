# BiSeNet (paper variant) with an ImageNet-pretrained ResNet-50 (V1c) context path.
# Learning rate of mmseg's bisenetv1_r50-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.
_base_ = './bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py'
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        context_backbone=dict(
            depth=50,
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c'))),
    neck=dict(in_channels=(256, 1024, 2048)),
    auxiliary_head=[
        dict(
            type='BiSeNetHead',
            in_channels=1024,
            in_index=1,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        dict(
            type='BiSeNetHead',
            in_channels=2048,
            in_index=2,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ])
optim_wrapper = dict(optimizer=dict(lr=0.05))
