# The pipelines of ./datasets/cityscapes.py (mmseg's cityscapes pipelines with the
# checked loading transforms of mmseg_attn.datasets) under names of their own,
# for the configs that inherit a whole mmseg config (configs/attention): such
# a config lists this file among its bases (its keys clash with none of
# mmseg's) and sets
#   train_pipeline = _base_.checked_train_pipeline
#   test_pipeline = _base_.checked_test_pipeline
#   tta_pipeline = _base_.checked_tta_pipeline
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
#   val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
#   test_dataloader = val_dataloader
# (a test checks that they equal the pipelines of ./datasets/cityscapes.py).
checked_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=19),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
checked_test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    # add loading annotation after ``Resize`` because ground truth
    # does not need to do resize data transform
    dict(type='LoadCheckedAnnotations', num_classes=19),
    dict(type='PackSegInputs')
]
checked_img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
checked_tta_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True)
                     for r in checked_img_ratios],
                    [
                        dict(type='RandomFlip', prob=0., direction='horizontal'),
                        dict(type='RandomFlip', prob=1., direction='horizontal')
                    ], [dict(type='LoadCheckedAnnotations', num_classes=19)],
                    [dict(type='PackSegInputs')]])
]
