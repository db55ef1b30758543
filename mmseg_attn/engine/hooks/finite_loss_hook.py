# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Stop a run whose loss became NaN or infinite, before it is checkpointed."""
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .last_checkpoint import last_checkpoint

__all__ = ['FiniteLossHook', 'NonFiniteLossError', 'NonFiniteWeightsError']


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


class NonFiniteWeightsError(FloatingPointError):
    """A checkpoint about to be written holds NaN or infinite values."""


def _as_float(value) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean()) if value.numel() else None
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss, with a clear message.

    After every training iteration each loss the model logged (every entry
    of ``outputs`` whose name contains ``'loss'``, as mmengine sums them) is
    checked. A NaN or infinite value raises :class:`NonFiniteLossError`
    naming the iteration, the non-finite components and their values, and
    the last checkpoint on disk. The hook runs before
    :class:`~mmengine.hooks.CheckpointHook` (priority ``'LOW'`` against its
    ``'VERY_LOW'``), so the weights updated by the bad step are never saved.
    In a distributed run the ranks agree on the verdict (one scalar
    all-reduce per iteration), so every rank stops at the same iteration.

    With ``check_weights`` every checkpoint is also checked before it is
    written: a NaN or infinite value in any floating-point weight or buffer
    raises :class:`NonFiniteWeightsError` and the file is not written.

    Args:
        check_weights (bool): Check the state dict of every checkpoint before
            it is written. Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, check_weights: bool = True) -> None:
        if not isinstance(check_weights, bool):
            raise TypeError(f'check_weights must be a bool, got {check_weights!r}')
        self.check_weights = check_weights

    def _where_to_go_on(self, runner) -> str:
        last = last_checkpoint(runner.work_dir)
        if last is None:
            return 'No checkpoint had been written yet.'
        return (f'The last checkpoint on disk is {last}, written before the values went bad; '
                'no checkpoint of the bad weights was written.')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        values = {name: _as_float(value) for name, value in (outputs or {}).items()
                  if 'loss' in name}
        bad = {name: v for name, v in values.items() if v is not None and not math.isfinite(v)}
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag, op='max')
            stop = bool(flag.item())
        else:
            stop = bool(bad)
        if not stop:
            return
        iteration = runner.iter + 1
        if bad:
            found = ', '.join(f'{name} = {v}' for name, v in bad.items())
            what = f'the loss became non-finite at iteration {iteration}: {found}'
        else:
            what = (f'the loss became non-finite on another rank at iteration {iteration} '
                    '(this rank\'s losses are finite)')
        message = (f'Training stopped: {what}. {self._where_to_go_on(runner)} Common causes: a '
                   'learning rate too high for the batch size, a label outside the class range '
                   'of the loss, or a corrupt input; lower the learning rate, add gradient '
                   'clipping (optim_wrapper.clip_grad) or check the data with '
                   'tools/analysis_tools/check_dataset.py, then resume.')
        runner.logger.error(message)
        raise NonFiniteLossError(message)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_weights:
            return
        bad = [name for name, value in checkpoint.get('state_dict', {}).items()
               if isinstance(value, torch.Tensor) and value.is_floating_point()
               and not bool(torch.isfinite(value).all())]
        if bad:
            shown = ', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
            iteration = checkpoint.get('meta', {}).get('iter', runner.iter + 1)
            message = (f'Refused to write a checkpoint at iteration {iteration}: the '
                       f'weights hold NaN or infinite values ({shown}). '
                       f'{self._where_to_go_on(runner)}')
            runner.logger.error(message)
            raise NonFiniteWeightsError(message)
