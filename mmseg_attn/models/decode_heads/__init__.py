from .bisenet_head import BiSeNetHead
from .fla_head import FLAHead

__all__ = ['BiSeNetHead', 'FLAHead']
