# FCN-R18 with CBAM after conv2 of every BasicBlock
# (configs/attention/fcn_r18-d8-cbam_*) shrunk for the picture tests: 8 base
# channels, a 16-channel head. The Cityscapes dataset of the base config gives
# the class names and palette.
_base_ = '../../configs/attention/fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        stem_channels=8,
        base_channels=8,
        norm_cfg=norm_cfg,
        plugins=[dict(cfg=dict(type='CBAM', ratio=4, kernel_size=7), position='after_conv2')]),
    decode_head=dict(in_channels=64, channels=16, norm_cfg=norm_cfg),
    auxiliary_head=None)
