# The plain FCN-R18 of attention_vis_fcn_cbam_tiny.py (no CBAM), the other side
# of the --compare tests.
_base_ = './attention_vis_fcn_cbam_tiny.py'
model = dict(backbone=dict(type='ResNetV1c', plugins=None))
