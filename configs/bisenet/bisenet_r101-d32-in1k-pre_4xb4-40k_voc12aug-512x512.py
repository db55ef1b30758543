# BiSeNet (paper variant) with an ImageNet-pretrained ResNet-101 (V1c) context path.
_base_ = './bisenet_r50-d32-in1k-pre_4xb4-40k_voc12aug-512x512.py'
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        context_backbone=dict(
            depth=101,
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet101_v1c'))))
