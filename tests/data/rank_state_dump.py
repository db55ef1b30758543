"""Test-only hook: every rank saves its model state at the end of training.

Imported through ``custom_imports=dict(imports=['rank_state_dump'])`` with
``tests/data`` on ``PYTHONPATH``; the test compares the files of the ranks.
"""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RankStateDumpHook(Hook):
    """Save ``state_dict()`` of the model as ``<work_dir>/rank<r>_state.pth``."""

    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        torch.save(state, osp.join(runner.work_dir, f'rank{get_rank()}_state.pth'))
