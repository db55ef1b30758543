# DeepLabV3+ with CBAM plugins (configs/attention/deeplabv3plus_*-cbam_*)
# shrunk for the deployment tests: ResNetV1c-18 with 8 base channels (CBAM
# after conv2), ASPP of 16 channels.
_base_ = [
    '../../configs/attention/deeplabv3plus_r50-d8-cbam_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=_base_.tiny_resnet_cbam,
    decode_head=dict(_base_.tiny_decode_head, c1_in_channels=8, c1_channels=8),
    auxiliary_head=_base_.tiny_auxiliary_head)
