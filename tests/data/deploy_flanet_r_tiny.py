# FLANet with a dilated ResNet (configs/flanet/flanet_r101-d8_*) shrunk for
# the deployment tests: ResNetV1c-18 with 8 base channels, the same strides
# and dilations (output stride 8), FLA head of 16 channels.
_base_ = [
    '../../configs/flanet/flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=_base_.tiny_resnet,
    decode_head=_base_.tiny_decode_head,
    # a list in a child config replaces the base list; the auxiliary heads do not
    # run at inference (and are not exported)
    auxiliary_head=None)
