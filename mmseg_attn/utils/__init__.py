from .config import convert_sync_bn_cfg, drop_pretrained_cfg

__all__ = ['convert_sync_bn_cfg', 'drop_pretrained_cfg']
