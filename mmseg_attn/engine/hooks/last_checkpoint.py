# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The checkpoint a ``--resume`` would start from, for the hooks' stop messages."""
import os.path as osp
from typing import Optional

__all__ = ['last_checkpoint']


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The path in ``work_dir/last_checkpoint`` (what mmengine resumes from),
    or None when no checkpoint has been written; unlike mmengine's
    ``find_latest_checkpoint`` it logs nothing."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read().strip() or None
