from .aff_fpn import AFFFPN
from .ffm_neck import FFMNeck

__all__ = ['AFFFPN', 'FFMNeck']
