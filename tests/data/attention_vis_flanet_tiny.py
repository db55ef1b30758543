# FLANet on a dilated ResNet (configs/flanet/flanet_r101-d8_*) shrunk for the
# picture tests: the tiny FLANet of the deployment tests (ResNetV1c-18 with 8
# base channels, output stride 8, a 16-channel FLA head).
_base_ = './deploy_flanet_r_tiny.py'
