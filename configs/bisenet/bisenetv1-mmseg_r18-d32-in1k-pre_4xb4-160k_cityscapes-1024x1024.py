# mmseg's BiSeNetV1 R-18 (bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024),
# rebuilt from mmseg_attn's parts with the same computation, parameter names
# inside each part and training settings. A checkpoint of mmseg's model loads
# after conversion:
#   python tools/model_converters/bisenetv1_mmseg2attn.py SRC.pth DST.pth
# The context backbone is mmseg's `ResNet` (7x7 stem), as in mmseg's config, so
# that mmseg's checkpoints map one to one; as there, the V1c ImageNet weights
# initialise every stage but the stem (whose names differ).
_base_ = [
    '../_base_/models/bisenet-mmseg_r18-d32.py',
    '../_base_/datasets/cityscapes_1024x1024.py',
    '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
crop_size = (1024, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        context_backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet18_v1c'))))
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.1, begin=0, end=1000),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=1000, end=160000, by_epoch=False)
]
optimizer = dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
train_dataloader = dict(batch_size=4, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
