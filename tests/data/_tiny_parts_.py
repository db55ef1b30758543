# Named pieces that shrink a real config for the CPU tests. A tiny config
# (tests/data/*_tiny.py) lists its real config and this file as bases and takes
# the pieces it needs as ``_base_.tiny_*``. Every name here starts with
# ``tiny_``, so none clashes with a key of a real base.
tiny_norm_cfg = dict(type='BN', requires_grad=True)
# ResNet(V1c)-18 with 8 base channels: stages of 8, 16, 32 and 64 channels.
tiny_resnet = dict(depth=18, stem_channels=8, base_channels=8, norm_cfg=tiny_norm_cfg)
# A decode head on the last stage (64 channels), an auxiliary head on the third (32).
tiny_decode_head = dict(in_channels=64, channels=16, norm_cfg=tiny_norm_cfg)
tiny_auxiliary_head = dict(in_channels=32, channels=8, norm_cfg=tiny_norm_cfg)
# Attention plugins for 8-channel stages (ratio 4 where the real configs use 16).
tiny_se = dict(type='SqueezeExcitation', ratio=4)
tiny_cbam = dict(type='CBAM', ratio=4, kernel_size=7)
# The tiny ResNet with one of them after conv2 of every block.
tiny_resnet_se = dict(tiny_resnet, plugins=[dict(cfg=tiny_se, position='after_conv2')])
tiny_resnet_cbam = dict(tiny_resnet, plugins=[dict(cfg=tiny_cbam, position='after_conv2')])
