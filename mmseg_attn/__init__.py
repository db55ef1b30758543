"""mmseg_attn: attention blocks, BiSeNet and FLANet for MMSegmentation 1.x.

Importing the package registers every module into ``mmseg.registry.MODELS``
and installs the secure checkpoint loading of :mod:`mmseg_attn.compat`.
"""
from . import (
    compat,  # noqa: F401  (side effect: secure checkpoint loading)
    datasets,  # noqa: F401  (side effect: registration of the checked loading transforms)
    engine,  # noqa: F401  (side effect: registration of the hooks)
    models,  # noqa: F401  (side effect: registration)
)
from .version import __version__

__all__ = ['__version__']
