# The README's demo: a small BiSeNet (ResNet-18 context path, trained from
# scratch) on the toy Cityscapes written by
#   python tools/misc/make_toy_dataset.py cityscapes --out data/toy_cityscapes
# It trains on the CPU in a few minutes through mmengine's Runner.
_base_ = [
    '../_base_/models/bisenet-paper_r18-d32.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)

data_root = 'data/toy_cityscapes'
crop_size = (128, 128)
# The base's SyncBN runs as plain BN in a single process, on the CPU too.
model = dict(data_preprocessor=dict(size=crop_size))

# the checked loaders of our dataset bases: a corrupt or out-of-range label
# stops the run naming the file (mmseg_attn.datasets)
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=19),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadCheckedAnnotations', num_classes=19),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=20, end=400, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400))
randomness = dict(seed=0)
