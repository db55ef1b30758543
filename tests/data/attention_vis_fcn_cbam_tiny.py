# FCN-R18 with CBAM after conv2 of every BasicBlock
# (configs/attention/fcn_r18-d8-cbam_*) shrunk for the picture tests: the tiny
# FCN of the deployment tests (8 base channels, a 16-channel head) with CBAM
# alone, as in the real config, and no auxiliary head. The Cityscapes dataset
# of the real config gives the class names and palette.
_base_ = './deploy_fcn_se_cbam_tiny.py'
model = dict(backbone=_base_.tiny_resnet_cbam, auxiliary_head=None)
