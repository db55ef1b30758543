# Semantic FPN whose top-down merges are AFF blocks (configs/attention/fpn_r50-aff_*)
# shrunk for the deployment tests: ResNetV1c-18 with 8 base channels, FPN of
# 16 channels.
_base_ = [
    '../../configs/attention/fpn_r50-aff_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=_base_.tiny_resnet,
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16,
              fusion_cfg=dict(type='AFF', ratio=4, norm_cfg=norm_cfg)),
    decode_head=dict(in_channels=[16, 16, 16, 16], channels=16, norm_cfg=norm_cfg))
