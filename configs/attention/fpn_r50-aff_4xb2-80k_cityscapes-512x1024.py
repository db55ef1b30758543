_base_ = [
    'mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/reliability_hooks.py',
    '../_base_/checked_loaders_cityscapes.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# Semantic FPN whose top-down merges are AFF (Dai et al., WACV 2021) instead of
# addition: the "long skip connection" use of attentional feature fusion.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')),
    neck=dict(type='AFFFPN', fusion_cfg=dict(type='AFF', ratio=4, norm_cfg=norm_cfg)))
# the datasets through the checked loaders (labels out of range stop the run)
train_pipeline = _base_.checked_train_pipeline
test_pipeline = _base_.checked_test_pipeline
tta_pipeline = _base_.checked_tta_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
