# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Save the random generators in checkpoints so a resumed run replays exactly.

mmengine's ``--resume`` restores the weights, the optimizer, the LR
schedulers and the iteration, and :class:`~mmengine.runner.IterBasedTrainLoop`
re-reads the batches that were already trained on, so the data pipeline's
numpy and python generators are replayed. torch's global generator (dropout,
``torch.rand*`` in a model) and the CUDA generators are not in the
checkpoint: a resumed run starts them from the seed again and trains on with
other dropout masks than the run it continues.
"""
import random
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

__all__ = ['RNGStateHook']

#: Key of the generator states in a checkpoint.
CHECKPOINT_KEY = 'rng_state'


def get_rng_state() -> Dict[str, Any]:
    """The state of every global generator, as tensors, arrays and scalars.

    Everything in it loads with ``torch.load(weights_only=True)`` once
    :mod:`mmseg_attn.compat` has allow-listed numpy arrays.
    """
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = dict(
        torch=torch.get_rng_state(),
        numpy=dict(keys=keys, pos=int(pos), has_gauss=int(has_gauss),
                   cached_gaussian=float(cached_gaussian)),
        python=random.getstate(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # the generator of this process's device only: touching the others
        # would give every rank a context on every GPU
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, Any]) -> Optional[str]:
    """Restore what :func:`get_rng_state` returned.

    Tensors may come back on a GPU (``map_location``); they are moved to the
    CPU first, where torch keeps generator states.

    Returns:
        str | None: Why the CUDA generator was not restored, if it was not
        and CUDA is in use; None otherwise.
    """
    torch.set_rng_state(state['torch'].cpu())
    numpy = state['numpy']
    np.random.set_state(('MT19937', np.asarray(numpy['keys'], dtype=np.uint32), numpy['pos'],
                         numpy['has_gauss'], numpy['cached_gaussian']))
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    cuda = state.get('cuda')
    if not torch.cuda.is_available():
        return None if cuda is None else \
            'the checkpoint holds a CUDA generator state but CUDA is not available'
    if cuda is None:
        return 'the checkpoint holds no CUDA generator state'
    torch.cuda.set_rng_state(cuda.cpu())  # the current device's
    return None


class _RestoreBeforeBatch:
    """Stands in for a train loop's ``dataloader_iterator`` after a resume.

    :class:`~mmengine.runner.IterBasedTrainLoop` calls ``next`` ``iter``
    times to skip the batches that were trained before the checkpoint, then
    once more for the first new batch. The generators are restored right
    before that call, so the new batch is made from the same state as in the
    uninterrupted run; then the real iterator takes its place again.
    """

    def __init__(self, loop, skip: int, restore: Callable[[], None]):
        self._loop = loop
        self._iterator = loop.dataloader_iterator
        self._skip = skip
        self._restore = restore
        self._seen = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._seen == self._skip:
            self._loop.dataloader_iterator = self._iterator
            self._restore()
        self._seen += 1
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Keep the random generators in checkpoints and restore them on resume.

    With it, a run that is killed and resumed ends with the same weights as
    an uninterrupted run with the same seed (tested with dropout in the
    model).

    - ``before_save_checkpoint``: the states of torch's CPU generator, the
      CUDA generator of the current device (when CUDA is in use), numpy's and
      python's global generators go into ``checkpoint['rng_state']``.
    - ``after_load_checkpoint``: the states are kept aside. They are used
      only when the run resumes at the checkpoint's iteration (``--resume``);
      ``load_from`` (fine-tuning) and testing leave the generators alone.
    - In an iteration-based loop they are restored after mmengine has
      re-read the batches already trained on and right before the first new
      batch is read, which is where the uninterrupted run stood; in an
      epoch-based loop, before the first resumed epoch.
    - ``before_val`` / ``after_val``: validation during training runs
      between the saved state and the next batch in the uninterrupted run
      but not in the resumed one, so its use of the generators (e.g. the
      seed drawn by a new dataloader iterator) is undone after it. Training
      randomness therefore does not depend on when validation runs.

    A checkpoint only holds the master process's states. With
    ``randomness=dict(diff_rank_seed=True)`` the other ranks keep their own,
    re-seeded generators on resume (and a warning says so); otherwise every
    rank draws the same numbers and restores the master's states.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._loaded: Optional[Dict[str, Any]] = None
        self._loaded_iter: Optional[int] = None
        self._restore_before_epoch = False
        self._val_state: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(CHECKPOINT_KEY)
        self._loaded_iter = checkpoint.get('meta', {}).get('iter')

    def _restore(self, runner) -> None:
        state, self._loaded = self._loaded, None
        diff_rank_seed = runner.cfg.get('randomness', {}).get('diff_rank_seed', False)
        if diff_rank_seed and get_rank() != 0:
            runner.logger.warning(
                'RNGStateHook: with diff_rank_seed=True the checkpoint holds only rank 0\'s '
                'generator states; this rank goes on with its freshly seeded generators')
            return
        problem = set_rng_state(state)
        if problem:
            runner.logger.warning(f'RNGStateHook: CUDA generator not restored: {problem}')
        runner.logger.info(f'RNGStateHook: random generator states restored at iteration '
                           f'{runner.iter}')

    def before_train(self, runner) -> None:
        resumed = (runner.iter > 0 and self._loaded_iter == runner.iter)
        if not resumed:
            self._loaded = None
            return
        if self._loaded is None:
            runner.logger.warning(
                'RNGStateHook: the resumed checkpoint holds no random generator states '
                '(it was written without this hook); dropout and other random layers will not '
                'replay the interrupted run')
            return
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _RestoreBeforeBatch(loop, runner.iter,
                                                           lambda: self._restore(runner))
        else:
            self._restore_before_epoch = True

    def before_train_epoch(self, runner) -> None:
        if self._restore_before_epoch:
            self._restore_before_epoch = False
            self._restore(runner)

    def before_val(self, runner) -> None:
        self._val_state = get_rng_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None
