_base_ = ['mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py', '../_base_/reliability_hooks.py',
    '../_base_/checked_loaders_cityscapes.py']
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# CBAM (Woo et al., ECCV 2018) in every BasicBlock of a ResNet-18 ('after_conv2': after
# the second BN, before the identity addition, as in the paper). mmseg's own ResNet rejects
# plugins in BasicBlock; PluginResNetV1c accepts them and keeps the stock parameter names.
model = dict(
    pretrained=None,
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[dict(cfg=dict(type='CBAM', ratio=16, kernel_size=7), position='after_conv2')],
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet18_v1c')))
# the datasets through the checked loaders (labels out of range stop the run)
train_pipeline = _base_.checked_train_pipeline
test_pipeline = _base_.checked_test_pipeline
tta_pipeline = _base_.checked_tta_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
