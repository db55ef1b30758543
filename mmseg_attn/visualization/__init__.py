# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention pictures through the blocks' probe points (see :mod:`.recorder`)."""
from . import attention, draw, meta, recorder
from .attention import *  # noqa: F401,F403
from .draw import *  # noqa: F401,F403
from .meta import *  # noqa: F401,F403
from .recorder import *  # noqa: F401,F403

# every public name of the four modules
__all__ = sorted({*attention.__all__, *draw.__all__, *meta.__all__, *recorder.__all__})
