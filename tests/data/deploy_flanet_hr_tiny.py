# FLANet with HRNet (configs/flanet/flanet_hr48_*) shrunk for the deployment
# tests: one module per stage, one block per branch, branches of 4-32
# channels, FLA head of 16 channels on the concatenated branches.
_base_ = ['../../configs/flanet/flanet_hr48_4xb2-80k_cityscapes-512x1024.py', './_tiny_parts_.py']
norm_cfg = _base_.tiny_norm_cfg
model = dict(
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ),
                        num_channels=(8, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                        num_channels=(4, 8)),
            stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                        num_channels=(4, 8, 16)),
            stage4=dict(num_modules=1, num_branches=4, block='BASIC',
                        num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 16, 32)))),
    decode_head=dict(in_channels=[4, 8, 16, 32], channels=16, norm_cfg=norm_cfg))
