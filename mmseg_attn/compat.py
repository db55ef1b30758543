"""Glue between torch, mmengine and mmcv, applied when ``mmseg_attn`` is imported.

Checkpoints stay data
---------------------
torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
writes checkpoints that such a load refuses (its ``message_hub`` holds
:class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays, and a
``HistoryBuffer`` pickled the default way drags ``builtins.getattr`` in).
Turning ``weights_only`` off would let any checkpoint run arbitrary code;
instead, importing this module (:mod:`mmseg_attn.security` holds the code)

1. makes ``HistoryBuffer`` pickle as plain data (its arrays and max length)
   through a :mod:`copyreg` reducer, so new checkpoints hold no ``getattr``;
2. allow-lists validating rebuild functions, not classes, under the names
   those checkpoints use (:data:`SAFE_CHECKPOINT_GLOBALS`,
   :mod:`mmseg_attn.security.allowlist`): a file cannot give mmengine's or
   numpy's objects a state of its own choosing (on torch 2.1 - 2.4, which
   cannot register functions, a restricted unpickler with the same
   allow-list becomes torch's ``weights_only`` one:
   :mod:`mmseg_attn.security.unpickler`);
3. wraps every loader of mmengine's ``CheckpointLoader`` (every registered
   scheme, later ones included): each ``torch.load`` in it runs with
   ``weights_only=True`` (also under ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``),
   ``meta['config']`` is dropped, and the config texts of the checkpoint are
   replaced by their data, never executed
   (:mod:`mmseg_attn.security.config_text`);
4. checks local and downloaded files before unpickling them
   (:func:`load_checkpoint_file`): every refusal names the file and what is
   wrong (:class:`CorruptCheckpointError`), and only pickled objects outside
   the allow-list are called unsafe (:class:`UnsafeCheckpointError`);
5. makes mmengine's local file writes atomic
   (:func:`setup_atomic_local_writes`).

A checkpoint written by an mmengine run without this package still carries
``getattr``: a user who trusts such a file rewrites it once with
``python tools/model_converters/upgrade_checkpoint.py SRC DST --trust``
(:func:`rewrite_trusted_checkpoint`).
"""
from . import security
from .security import *  # noqa: F401,F403  (the names of this module, re-exported)
from .security import setup_atomic_local_writes, setup_secure_checkpoint_loading

__all__ = list(security.__all__)

setup_secure_checkpoint_loading()
setup_atomic_local_writes()
