_base_ = [
    '../_base_/models/flanet_hr48.py', '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor, decode_head=dict(num_classes=21))
