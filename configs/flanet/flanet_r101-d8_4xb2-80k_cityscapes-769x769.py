_base_ = [
    '../_base_/models/flanet_r101-d8.py', '../_base_/datasets/cityscapes_769x769.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
crop_size = (769, 769)
data_preprocessor = dict(size=crop_size)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(align_corners=True),
    auxiliary_head=[
        dict(
            type='FCNHead',
            in_channels=512,
            in_index=1,
            channels=64,
            num_convs=1,
            kernel_size=3,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(
            type='FCNHead',
            in_channels=1024,
            in_index=2,
            channels=64,
            num_convs=1,
            kernel_size=3,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    ],
    test_cfg=dict(mode='slide', crop_size=(769, 769), stride=(513, 513)))
