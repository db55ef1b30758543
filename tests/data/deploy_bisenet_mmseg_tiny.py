# The mmseg variant of BiSeNet (configs/bisenet/bisenetv1-mmseg_*) shrunk for
# the deployment tests: ResNet-18 context path with 8 base channels.
_base_ = [
    '../../configs/bisenet/bisenetv1-mmseg_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py',
    './_tiny_parts_.py'
]
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=dict(
        spatial_channels=(8, 8, 8, 16), context_backbone=_base_.tiny_resnet, norm_cfg=norm_cfg),
    neck=dict(in_channels=(16, 32, 64), out_channels=32, context_channels=16,
              norm_cfg=norm_cfg),
    decode_head=dict(in_channels=32, channels=16, norm_cfg=norm_cfg),
    # a list in a child config replaces the base list; the auxiliary heads do not
    # run at inference (and are not exported)
    auxiliary_head=None)
