# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Stop training cleanly on SIGTERM, after the iteration (and its checkpoint)."""
import inspect
import os
import signal
import sys
import threading

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from .last_checkpoint import last_checkpoint

__all__ = ['GracefulStopHook']


@HOOKS.register_module()
class GracefulStopHook(Hook):
    """Turn a ``SIGTERM`` into a clean stop between two training iterations.

    ``SIGTERM`` is what ``kill``, slurm (``scancel``, the end of the time
    limit, pre-emption) and most schedulers send first. By default it ends
    Python at once: no log line says why the run ended, and a checkpoint
    being written at that moment is cut off (its temporary file stays
    behind; the target is safe thanks to the atomic writes of
    :mod:`mmseg_attn.security.atomic`).

    In :meth:`before_train` the hook installs a ``SIGTERM`` handler that
    only records that the signal came (on the main thread; elsewhere, or
    where signals cannot be handled, it does nothing and says so). After
    each training iteration it checks the record. The hook has the lowest
    priority (``'LOWEST'``), so it runs after every other ``after_train_iter``
    of that iteration, :class:`~mmengine.hooks.CheckpointHook`
    (``'VERY_LOW'``) included: a checkpoint due at that iteration is
    written completely first. Then it logs one line naming the iteration,
    the last checkpoint (``work_dir/last_checkpoint``) and how to resume,
    restores the previous handler and raises ``SystemExit(143)``
    (``128 + SIGTERM``, the status of a process ended by ``SIGTERM``), so
    that ``tools/train.py`` exits with a non-zero status and a scheduler
    sees that the run did not finish. Validation due at that iteration is
    not run. :meth:`after_train` restores the previous handler when the run
    ends normally; when it ends by an exception, the first ``SIGTERM``
    after it (the train loop is no longer running) restores the previous
    handler and goes to it, so a process that lives on is not left
    deaf to ``SIGTERM``.

    In a distributed run the ranks agree on the stop (one scalar all-reduce
    per iteration), so all of them stop after the same iteration, also when
    the signal reaches them at slightly different times.

    Example:
        >>> custom_hooks = [dict(type='GracefulStopHook')]
    """

    priority = 'LOWEST'

    #: Exit status of a stop: ``128 + SIGTERM``, as a shell reports a process ended by it.
    EXIT_CODE = 128 + signal.SIGTERM

    def __init__(self) -> None:
        self._requested = False
        self._installed = False
        self._previous = None
        self._loop_code = None

    def _training(self, frame) -> bool:
        """Whether the train loop that installed the handler is on ``frame``'s stack."""
        if self._loop_code is None or frame is None:
            return True
        while frame is not None:
            if frame.f_code is self._loop_code:
                return True
            frame = frame.f_back
        return False

    def _on_sigterm(self, signum, frame) -> None:
        if self._training(frame):
            # a signal handler: only record, the stop happens between iterations
            self._requested = True
            return
        # the training ended by an exception (no after_train): the signal is not ours
        previous = self._previous
        self.restore_signal_handler()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            os.kill(os.getpid(), signum)  # the default action, now that it is back

    def before_train(self, runner) -> None:
        """Install the ``SIGTERM`` handler (main thread only)."""
        self._requested = False
        if self._installed:  # already ours (a second before_train): keep the first previous
            return
        if threading.current_thread() is not threading.main_thread():
            print_log('GracefulStopHook: training runs outside the main thread, where Python '
                      'cannot handle signals; SIGTERM ends the run at once', logger='current')
            return
        try:
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError, AttributeError) as e:
            print_log(f'GracefulStopHook: cannot handle SIGTERM here ({e}); SIGTERM ends the '
                      'run at once', logger='current')
            return
        # None: a handler installed outside Python; the default is the closest we can restore
        self._previous = signal.SIG_DFL if previous is None else previous
        self._installed = True
        self._loop_code = self._running_loop_code(runner)

    @staticmethod
    def _running_loop_code(runner):
        """The code of the train loop's ``run`` when it is on the stack now, else None."""
        loop = getattr(runner, 'train_loop', None)
        run = getattr(type(loop), 'run', None)
        code = getattr(inspect.unwrap(run), '__code__', None) if callable(run) else None
        frame = sys._getframe(1)
        while frame is not None and code is not None:
            if frame.f_code is code:
                return code
            frame = frame.f_back
        return None

    def restore_signal_handler(self) -> None:
        """Put back the ``SIGTERM`` handler that was there before :meth:`before_train`."""
        if not self._installed:
            return
        try:
            # a handler installed over ours since then stays
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.signal(signal.SIGTERM, self._previous)
        except (ValueError, OSError):  # not on the main thread: leave it
            return
        self._installed = False
        self._previous = None

    def after_train(self, runner) -> None:
        """Restore the previous ``SIGTERM`` handler."""
        self.restore_signal_handler()

    def stop_requested(self) -> bool:
        """Whether ``SIGTERM`` came, on this rank or (distributed) on any rank."""
        if get_world_size() > 1:
            flag = torch.tensor([float(self._requested)])
            all_reduce(flag, op='max')
            return bool(flag.item())
        return self._requested

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Stop after this iteration if ``SIGTERM`` came.

        Raises:
            SystemExit: With :attr:`EXIT_CODE`, once the stop is logged.
        """
        if not self.stop_requested():
            return
        iteration = runner.iter + 1
        where = '' if self._requested else ' (received by another rank)'
        last = last_checkpoint(runner.work_dir)
        if last is None:
            state = ('no checkpoint has been written yet, so a rerun starts from the beginning '
                     '(with --resume too)')
        else:
            state = (f'the last checkpoint is {last}; to go on from it, run the same command '
                     'with --resume (tools/train.py CONFIG --resume, the same work_dir), or set '
                     'resume=True in the config')
        runner.logger.warning(f'Training stopped by SIGTERM{where} at iteration {iteration}, '
                              f'after the iteration had finished: {state}.')
        self.restore_signal_handler()
        raise SystemExit(self.EXIT_CODE)
