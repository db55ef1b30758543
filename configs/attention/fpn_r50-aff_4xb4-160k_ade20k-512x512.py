_base_ = ['mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', '../_base_/reliability_hooks.py']
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# Semantic FPN whose top-down merges are AFF (Dai et al., WACV 2021) instead of
# addition: the "long skip connection" use of attentional feature fusion.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')),
    neck=dict(type='AFFFPN', fusion_cfg=dict(type='AFF', ratio=4, norm_cfg=norm_cfg)))
