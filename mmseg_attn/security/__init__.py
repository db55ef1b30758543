"""Checkpoints stay data: secure loading, inert config text, atomic writes.

- :mod:`.loader`: every mmengine checkpoint scheme loads with
  ``weights_only=True``; bad files are refused with errors naming them
  (:mod:`.errors`) after :mod:`.inspection` has read what the file is.
- :mod:`.allowlist`: the validating rebuild functions allow-listed for
  mmengine's ``HistoryBuffer`` and numpy arrays, dtypes and scalars.
- :mod:`.unpickler`: on torch 2.1 - 2.4, torch's ``weights_only`` unpickler
  restricted to the same allow-list.
- :mod:`.config_text`: config text stored in a checkpoint is read as data,
  never executed.
- :mod:`.upgrade`: the explicit, trusted rewrite of an old checkpoint.
- :mod:`.atomic`: checkpoint files are written atomically.

:mod:`mmseg_attn.compat` installs all of it when ``mmseg_attn`` is imported.
"""
from . import atomic, errors, inspection, loader, upgrade
from .allowlist import SAFE_CHECKPOINT_GLOBALS
from .atomic import *  # noqa: F401,F403
from .config_text import ConfigTextError, read_config_text, safe_config_text
from .errors import *  # noqa: F401,F403
from .inspection import *  # noqa: F401,F403
from .loader import *  # noqa: F401,F403
from .upgrade import *  # noqa: F401,F403

# all of .atomic, .errors, .inspection, .loader and .upgrade; of .allowlist and
# .config_text what a user calls
__all__ = atomic.__all__ + errors.__all__ + inspection.__all__ + loader.__all__ + \
    upgrade.__all__ + ['SAFE_CHECKPOINT_GLOBALS', 'ConfigTextError', 'read_config_text',
                       'safe_config_text']
