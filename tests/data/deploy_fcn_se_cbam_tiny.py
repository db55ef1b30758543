# FCN with SE and CBAM plugins in a ResNetV1c-18 (configs/attention/fcn_r18-d8-*)
# shrunk for the deployment tests: 8 base channels, SE after conv1 and CBAM
# after conv2 of every block.
_base_ = '../../configs/attention/fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        stem_channels=8,
        base_channels=8,
        norm_cfg=norm_cfg,
        plugins=[
            dict(cfg=dict(type='SqueezeExcitation', ratio=4), position='after_conv1'),
            dict(cfg=dict(type='CBAM', ratio=4, kernel_size=7), position='after_conv2')
        ]),
    decode_head=dict(in_channels=64, channels=16, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=8, norm_cfg=norm_cfg))
