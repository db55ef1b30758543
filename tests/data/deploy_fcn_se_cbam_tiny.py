# FCN with SE and CBAM plugins in a ResNetV1c-18 (configs/attention/fcn_r18-d8-*)
# shrunk for the deployment tests: 8 base channels, SE after conv1 and CBAM
# after conv2 of every block.
_base_ = [
    '../../configs/attention/fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=dict(_base_.tiny_resnet,
                  plugins=[
                      dict(cfg=_base_.tiny_se, position='after_conv1'),
                      dict(cfg=_base_.tiny_cbam, position='after_conv2')
                  ]),
    decode_head=_base_.tiny_decode_head,
    auxiliary_head=_base_.tiny_auxiliary_head)
