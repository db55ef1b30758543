_base_ = [
    'mmseg::upernet/upernet_r50_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/reliability_hooks.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# SE (Hu et al., CVPR 2018) on the residual branch of every Bottleneck
# ('after_conv3': after the last BN, before the identity addition, as in SE-ResNet).
# The stock ResNetV1c weights load into PluginResNetV1c; only the plugins start from scratch.
model = dict(
    pretrained=None,
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[dict(cfg=dict(type='SqueezeExcitation', ratio=16), position='after_conv3')],
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')))
