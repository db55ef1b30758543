_base_ = '../bisenet/bisenet_r18-d32-in1k-pre_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
# CBAM (Woo et al., ECCV 2018) in every BasicBlock of BiSeNet's ResNet-18 context path
# ('after_conv2': after the second BN, before the identity addition). mmseg's ResNet
# rejects plugins in BasicBlock; PluginResNetV1c takes them and keeps the stock parameter
# names, so the ImageNet ResNet-18 weights still load (only the CBAM weights are new).
model = dict(
    backbone=dict(
        context_backbone=dict(
            type='PluginResNetV1c',
            plugins=[
                dict(cfg=dict(type='CBAM', ratio=16, kernel_size=7), position='after_conv2')
            ])))
