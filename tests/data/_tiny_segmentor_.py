# The frame of the tiny segmentors written from scratch rather than shrunk from
# a real config (attention_vis_bisenet_tiny.py, attention_vis_fpn_tiny.py): an
# EncoderDecoder with mmseg's Cityscapes preprocessing, BN everywhere.
_base_ = './_tiny_parts_.py'
custom_imports = dict(imports=['mmseg_attn'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Only the dataset type: the pictures take the class names and palette from it.
test_dataloader = dict(dataset=dict(type='CityscapesDataset'))
