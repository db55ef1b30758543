from .bisenet_head import BiSeNetHead

__all__ = ['BiSeNetHead']
