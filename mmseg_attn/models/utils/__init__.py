from .ckpt_convert import bisenetv1_converter

__all__ = ['bisenetv1_converter']
