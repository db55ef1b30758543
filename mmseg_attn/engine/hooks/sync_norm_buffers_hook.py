# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Norm statistics kept identical on every rank of a CPU-distributed run."""
from mmengine.dist import all_reduce_params, is_distributed
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

__all__ = ['SyncNormBuffersHook']


@HOOKS.register_module()
class SyncNormBuffersHook(Hook):
    """Average the model buffers (norm statistics) over the ranks.

    mmengine's ``SyncBuffersHook`` averages buffers at the end of a training
    epoch and before validation, which is after the ``CheckpointHook`` of an
    iteration-based schedule has saved rank 0's own statistics. This hook
    averages them after every ``interval`` training iterations, with a
    priority that runs before the checkpoint is written, at the end of
    training and before each validation, so every rank holds the same
    buffers whenever they are saved or used.

    Args:
        interval (int): Average every ``interval`` iterations (and always at
            the last one). Defaults to 1.
    """

    priority = 'LOW'  # after the optimizer step, before CheckpointHook (VERY_LOW)

    def __init__(self, interval: int = 1) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive int, got {interval!r}')
        self.interval = interval

    @staticmethod
    def _sync(runner) -> None:
        if is_distributed():
            all_reduce_params(runner.model.buffers(), op='mean')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Average the buffers every ``interval`` iterations and at the last one."""
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self._sync(runner)

    def after_train_epoch(self, runner) -> None:
        """Average the buffers at the end of an epoch."""
        self._sync(runner)

    def before_val_epoch(self, runner) -> None:
        """Average the buffers before validation."""
        self._sync(runner)
