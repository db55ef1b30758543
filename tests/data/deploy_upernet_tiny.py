# UPerNet with SE plugins (configs/attention/upernet_*-se_*) shrunk for the
# deployment tests: ResNetV1c-18 with 8 base channels (SE after conv2), the
# pyramid pooling bins (1, 2, 3, 6) of the real head.
_base_ = [
    '../../configs/attention/upernet_r50-se_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=_base_.tiny_resnet_se,
    decode_head=dict(in_channels=[8, 16, 32, 64], channels=16, norm_cfg=norm_cfg),
    auxiliary_head=_base_.tiny_auxiliary_head)
