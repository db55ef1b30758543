# FLANet with a dilated ResNet (configs/flanet/flanet_r101-d8_*) shrunk for
# the deployment tests: ResNetV1c-18 with 8 base channels, the same strides
# and dilations (output stride 8), FLA head of 16 channels.
_base_ = '../../configs/flanet/flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(depth=18, stem_channels=8, base_channels=8, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=64, channels=16, norm_cfg=norm_cfg),
    # a list in a child config replaces the base list; the auxiliary heads do not
    # run at inference (and are not exported)
    auxiliary_head=None)
