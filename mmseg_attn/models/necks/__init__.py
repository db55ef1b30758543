from .ffm_neck import FFMNeck

__all__ = ['FFMNeck']
