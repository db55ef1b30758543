"""Checkpoints stay data: secure loading, inert config text, atomic writes.

- :mod:`.checkpoint`: every mmengine checkpoint scheme loads with
  ``weights_only=True``; bad files are refused with errors naming them.
- :mod:`.allowlist`: the validating rebuild functions allow-listed for
  mmengine's ``HistoryBuffer`` and numpy arrays, dtypes and scalars.
- :mod:`.config_text`: config text stored in a checkpoint is read as data,
  never executed.
- :mod:`.atomic`: checkpoint files are written atomically.

:mod:`mmseg_attn.compat` installs all of it when ``mmseg_attn`` is imported.
"""
from .allowlist import SAFE_CHECKPOINT_GLOBALS
from .atomic import (
                     atomic_open,
                     atomic_write_bytes,
                     clean_stale_temporaries,
                     setup_atomic_local_writes,
)
from .checkpoint import (
                     CheckpointError,
                     CorruptCheckpointError,
                     UnsafeCheckpointError,
                     UpgradeError,
                     load_checkpoint_file,
                     rewrite_trusted_checkpoint,
                     setup_secure_checkpoint_loading,
                     weights_only_loads,
)
from .config_text import ConfigTextError, read_config_text, safe_config_text

__all__ = [
    'SAFE_CHECKPOINT_GLOBALS', 'CheckpointError', 'ConfigTextError', 'CorruptCheckpointError',
    'UnsafeCheckpointError', 'UpgradeError', 'atomic_open', 'atomic_write_bytes',
    'clean_stale_temporaries', 'load_checkpoint_file', 'read_config_text',
    'rewrite_trusted_checkpoint', 'safe_config_text', 'setup_atomic_local_writes',
    'setup_secure_checkpoint_loading', 'weights_only_loads'
]
