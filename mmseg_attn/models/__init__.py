from . import backbones, decode_heads, layers, necks  # noqa: F401  (registration)
