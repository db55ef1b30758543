# A small stock FCN (ResNetV1c-18, dilated) with SyncBN, for the distributed
# CPU tests: tools/train.py must turn SyncBN into BN when there is no GPU.
_base_ = 'mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
model = dict(pretrained=None, backbone=dict(init_cfg=None))
