# DeepLabV3+ with CBAM plugins (configs/attention/deeplabv3plus_*-cbam_*)
# shrunk for the deployment tests: ResNetV1c-18 with 8 base channels (CBAM
# after conv2), ASPP of 16 channels.
_base_ = '../../configs/attention/deeplabv3plus_r50-d8-cbam_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        stem_channels=8,
        base_channels=8,
        norm_cfg=norm_cfg,
        plugins=[dict(cfg=dict(type='CBAM', ratio=4), position='after_conv2')]),
    decode_head=dict(in_channels=64, channels=16, c1_in_channels=8, c1_channels=8,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=8, norm_cfg=norm_cfg))
