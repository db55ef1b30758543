"""Checkpoints stay data: secure loading, inert config text, atomic writes.

- :mod:`.checkpoint`: every mmengine checkpoint scheme loads with
  ``weights_only=True``; bad files are refused with errors naming them.
- :mod:`.allowlist`: the validating rebuild functions allow-listed for
  mmengine's ``HistoryBuffer`` and numpy arrays, dtypes and scalars.
- :mod:`.unpickler`: on torch 2.1 - 2.4, torch's ``weights_only`` unpickler
  restricted to the same allow-list.
- :mod:`.config_text`: config text stored in a checkpoint is read as data,
  never executed.
- :mod:`.atomic`: checkpoint files are written atomically.

:mod:`mmseg_attn.compat` installs all of it when ``mmseg_attn`` is imported.
"""
from . import atomic, checkpoint
from .allowlist import SAFE_CHECKPOINT_GLOBALS
from .atomic import *  # noqa: F401,F403
from .checkpoint import *  # noqa: F401,F403
from .config_text import ConfigTextError, read_config_text, safe_config_text

# all of .atomic and .checkpoint; of .allowlist and .config_text what a user calls
__all__ = atomic.__all__ + checkpoint.__all__ + [
    'SAFE_CHECKPOINT_GLOBALS', 'ConfigTextError', 'read_config_text', 'safe_config_text'
]
