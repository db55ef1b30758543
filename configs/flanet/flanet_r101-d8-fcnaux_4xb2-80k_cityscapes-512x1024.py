# FLANet R-101-D8 with mmseg's usual single auxiliary FCNHead on stage 3
# instead of the two auxiliary heads of the official model.
_base_ = './flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    auxiliary_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=1024,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)))
