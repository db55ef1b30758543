_base_ = [
    '../_base_/models/flanet_hr48.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
