_base_ = ['mmseg::fcn/fcn_r50-d8_4xb2-80k_cityscapes-512x1024.py', '../_base_/reliability_hooks.py',
    '../_base_/checked_loaders_cityscapes.py']
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# CBAM on the outputs of an unmodified backbone: AttentionBackbone wraps the stock
# ResNetV1c (its own Pretrained init applies as usual) and refines the outputs that the
# decode head (index 3) and the auxiliary head (index 2) read. Checkpoint keys of the
# inner backbone are those of the plain FCN, so a stock FCN checkpoint loads with only the
# `backbone.attentions.*` keys missing.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='AttentionBackbone',
        backbone=dict(
            type='ResNetV1c',
            depth=50,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1),
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            contract_dilation=True,
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')),
        attention=dict(type='CBAM', ratio=16, kernel_size=7),
        indices=(2, 3),
        in_channels=(1024, 2048)))
# the datasets through the checked loaders (labels out of range stop the run)
train_pipeline = _base_.checked_train_pipeline
test_pipeline = _base_.checked_test_pipeline
tta_pipeline = _base_.checked_tta_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
