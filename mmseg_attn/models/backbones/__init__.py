from .bisenet import BiSeNetBackbone

__all__ = ['BiSeNetBackbone']
