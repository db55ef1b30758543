_base_ = [
    'mmseg::upernet/upernet_r50_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/reliability_hooks.py',
    '../_base_/checked_loaders_cityscapes.py'
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
# the datasets through the checked loaders (labels out of range stop the run)
train_pipeline = _base_.checked_train_pipeline
test_pipeline = _base_.checked_test_pipeline
tta_pipeline = _base_.checked_tta_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
