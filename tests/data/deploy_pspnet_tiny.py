# PSPNet with SE plugins (configs/attention/pspnet_*-se_*) shrunk for the
# deployment tests: ResNetV1c-18 with 8 base channels (SE after conv2), the
# pyramid pooling bins (1, 2, 3, 6) of the real model.
_base_ = [
    '../../configs/attention/pspnet_r50-d8-se_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=_base_.tiny_resnet_se,
    decode_head=_base_.tiny_decode_head,
    auxiliary_head=_base_.tiny_auxiliary_head)
