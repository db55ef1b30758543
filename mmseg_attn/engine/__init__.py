# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Runner hooks: safe interruption and resumption, checked checkpoints and
losses, norm statistics kept equal across the ranks of a CPU run, and
attention pictures sent to the Visualizer."""
from . import hooks
from .hooks import *  # noqa: F401,F403

__all__ = list(hooks.__all__)
