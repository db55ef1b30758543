# The README's demo config (configs/demo) at 1/8 of its widths, for the
# end-to-end tests whose checks do not depend on the widths (kill and resume,
# train/test/resume with mmseg's tools, numerical faults, compiled training):
# the same data pipeline, schedule, hooks and optimizer, a cheaper model.
_base_ = ['../../configs/demo/bisenet_r18_1xb4-400_toy-cityscapes-128x128.py']
model = dict(
    backbone=dict(spatial_channels=(8, 16, 32),
                  context_backbone=dict(stem_channels=8, base_channels=8)),
    neck=dict(in_channels=(32, 32, 64), out_channels=32),
    decode_head=dict(in_channels=32, channels=32),
    # the auxiliary heads read the refined 1/16 and 1/32 context (32, 64 channels)
    auxiliary_head=[
        dict(type='BiSeNetHead', in_channels=32, in_index=1, num_convs=0, dropout_ratio=0.1,
             num_classes=19, norm_cfg=dict(type='SyncBN', requires_grad=True),
             align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        dict(type='BiSeNetHead', in_channels=64, in_index=2, num_convs=0, dropout_ratio=0.1,
             num_classes=19, norm_cfg=dict(type='SyncBN', requires_grad=True),
             align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ])
