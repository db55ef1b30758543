from .attention_wrapper import AttentionBackbone
from .bisenet import BiSeNetBackbone
from .plugin_resnet import PluginResNet, PluginResNetV1c, PluginResNetV1d

__all__ = [
    'AttentionBackbone', 'BiSeNetBackbone', 'PluginResNet', 'PluginResNetV1c',
    'PluginResNetV1d'
]
