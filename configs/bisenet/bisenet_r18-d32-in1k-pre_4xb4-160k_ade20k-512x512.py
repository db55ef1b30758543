# BiSeNet (paper variant) with an ImageNet-pretrained ResNet-18 (V1c) context path.
# mmseg has no BiSeNetV1 for ADE20K; the schedule and optimizer are those of its
# 512x512, 4xb4, 160k COCO-Stuff BiSeNetV1 configs (lr 0.005 for R-18/50/101).
_base_ = [
    '../_base_/models/bisenet-paper_r18-d32.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        context_backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet18_v1c'))),
    decode_head=dict(num_classes=150),
    auxiliary_head=[
        dict(
            type='BiSeNetHead',
            in_channels=256,
            in_index=1,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=150,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        dict(
            type='BiSeNetHead',
            in_channels=512,
            in_index=2,
            num_convs=0,
            dropout_ratio=0.1,
            num_classes=150,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ])
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.1, begin=0, end=1000),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=1000, end=160000, by_epoch=False)
]
optimizer = dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
train_dataloader = dict(batch_size=4, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
