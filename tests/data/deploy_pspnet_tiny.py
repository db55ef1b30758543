# PSPNet with SE plugins (configs/attention/pspnet_*-se_*) shrunk for the
# deployment tests: ResNetV1c-18 with 8 base channels (SE after conv2), the
# pyramid pooling bins (1, 2, 3, 6) of the real model.
_base_ = '../../configs/attention/pspnet_r50-d8-se_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        stem_channels=8,
        base_channels=8,
        norm_cfg=norm_cfg,
        plugins=[dict(cfg=dict(type='SqueezeExcitation', ratio=4), position='after_conv2')]),
    decode_head=dict(in_channels=64, channels=16, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=8, norm_cfg=norm_cfg))
