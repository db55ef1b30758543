# mmseg's ADE20K settings with the checked loading transforms of
# mmseg_attn.datasets: a missing, corrupt or inconsistent image or label
# (values outside 0..149 and the ignore index 255 included) stops the run
# with a message naming the file; on_error='skip' in a training pipeline skips
# such samples instead. Everything else is mmseg's own, unchanged (a test
# compares the two). The config that inherits this file imports mmseg_attn
# (custom_imports), as every config of this project does.
_base_ = ['mmseg::_base_/datasets/ade20k.py']
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=150, reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # add loading annotation after ``Resize`` because ground truth
    # does not need to do resize data transform
    dict(type='LoadCheckedAnnotations', num_classes=150, reduce_zero_label=True),
    dict(type='PackSegInputs')
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
                    [
                        dict(type='RandomFlip', prob=0., direction='horizontal'),
                        dict(type='RandomFlip', prob=1., direction='horizontal')
                    ],
                    [dict(type='LoadCheckedAnnotations', num_classes=150)],
                    [dict(type='PackSegInputs')]])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
