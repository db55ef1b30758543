"""SIGTERM stops training cleanly (GracefulStopHook): after the iteration and its
checkpoint, with a log line and a non-zero status, and the run resumes from there
(tools/train.py, toy Cityscapes); the hook's handler logic in-process."""
import glob
import logging
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmseg_attn  # noqa: F401  (registers the hooks)
from mmseg_attn.compat import load_checkpoint_file
from mmseg_attn.engine import GracefulStopHook
from mmseg_attn.engine.hooks import graceful_stop_hook as hook_module
from tests.utils import REPO_ROOT, last_checkpoint, signal_after_first_checkpoint, toy_config

# the demo at 1/8 of its widths
DEMO_CONFIG = 'tests/data/demo_tiny.py'
MAX_ITERS = 12
INTERVAL = 2
STOP_LINE = re.compile(r'Training stopped by SIGTERM at iteration (\d+), after the iteration '
                       r'had finished: the last checkpoint is (\S+); .*--resume.*resume=True')


@pytest.fixture(autouse=True)
def _keep_sigterm_handler():
    """Every test leaves the process's SIGTERM handler as it found it."""
    before = signal.getsignal(signal.SIGTERM)
    yield before
    signal.signal(signal.SIGTERM, before)


def _config(data_root, work_dir, max_iters=MAX_ITERS) -> str:
    cfg = Config.fromfile(DEMO_CONFIG)
    # the hooks of our runtime base, GracefulStopHook among them
    cfg.custom_hooks = Config.fromfile('configs/_base_/default_runtime.py').custom_hooks
    assert 'GracefulStopHook' in [h['type'] for h in cfg.custom_hooks]
    return toy_config(cfg, data_root, work_dir, dataset='cityscapes', max_iters=max_iters,
                      cfg_options={'default_hooks.checkpoint.interval': INTERVAL})


def _train_cmd(cfg, work_dir, *extra):
    return [sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir), *extra]


def _terminate_after_first_checkpoint(cmd, work_dir, log) -> int:
    """Start training, send SIGTERM once a checkpoint exists; return the exit status."""
    return signal_after_first_checkpoint(cmd, work_dir, log, signal.SIGTERM)


def _temporaries(work_dir):
    """Files left by unfinished atomic writes (``.<name>.<8 characters>.tmp``)."""
    return [osp.join(root, name) for root, _, names in os.walk(str(work_dir))
            for name in names if name.endswith('.tmp')]


def test_sigterm_stops_after_the_iteration_and_the_run_resumes(toy_cityscapes, tmp_path):
    work_dir = tmp_path / 'run'
    cfg = _config(toy_cityscapes, work_dir)

    status = _terminate_after_first_checkpoint(_train_cmd(cfg, work_dir), work_dir,
                                               tmp_path / 'stopped.log')
    out = open(tmp_path / 'stopped.log').read()
    assert status == GracefulStopHook.EXIT_CODE == 143, out[-6000:]
    found = STOP_LINE.findall(out)
    assert len(found) == 1, out[-6000:]
    stopped_at, named = int(found[0][0]), found[0][1]
    # the line names the checkpoint that --resume continues from
    last = last_checkpoint(work_dir)
    assert named == last and osp.isfile(last)
    resumed_iter = int(osp.basename(last)[len('iter_'):-len('.pth')])
    assert INTERVAL <= resumed_iter <= stopped_at < MAX_ITERS
    # a checkpoint due at the stop iteration was written before the stop
    assert resumed_iter == stopped_at - stopped_at % INTERVAL
    assert not osp.exists(work_dir / f'iter_{MAX_ITERS}.pth')
    # the runner's own log file holds the line too
    logs = glob.glob(str(work_dir / '*' / '*.log'))
    assert len(logs) == 1 and STOP_LINE.search(open(logs[0]).read())
    # nothing half-written: no temporary, every checkpoint complete
    assert _temporaries(work_dir) == []
    for name in os.listdir(work_dir):
        if name.endswith('.pth'):
            assert 'state_dict' in load_checkpoint_file(str(work_dir / name), 'cpu')

    with open(tmp_path / 'resumed.log', 'w') as f:
        result = subprocess.run(_train_cmd(cfg, work_dir, '--resume'), cwd=REPO_ROOT,
                                stdout=f, stderr=subprocess.STDOUT, timeout=900)
    out = open(tmp_path / 'resumed.log').read()
    assert result.returncode == 0, out[-6000:]
    assert f'resumed epoch: 0, iter: {resumed_iter}' in out
    assert 'Training stopped by SIGTERM' not in out
    assert osp.basename(last_checkpoint(work_dir)) == f'iter_{MAX_ITERS}.pth'
    assert 'state_dict' in load_checkpoint_file(str(work_dir / f'iter_{MAX_ITERS}.pth'), 'cpu')
    assert _temporaries(work_dir) == []


class _SigtermAt(Hook):
    """Sends SIGTERM to this process at the start of one iteration (0-based)."""

    def __init__(self, index):
        self.index = index

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.index:
            os.kill(os.getpid(), signal.SIGTERM)


def test_stop_comes_after_the_checkpoint_of_its_iteration(toy_cityscapes, tmp_path,
                                                          _keep_sigterm_handler):
    """In-process: SIGTERM during iteration 2, whose checkpoint is due: the stop
    follows CheckpointHook, and the previous handler is back afterwards."""
    path = _config(toy_cityscapes, tmp_path, max_iters=4)
    runner = Runner.from_cfg(Config.fromfile(path))
    runner.register_hook(_SigtermAt(index=1))
    with pytest.raises(SystemExit) as info:
        runner.train()
    assert info.value.code == 143
    assert osp.basename(last_checkpoint(tmp_path)) == 'iter_2.pth'
    assert 'state_dict' in load_checkpoint_file(str(tmp_path / 'iter_2.pth'), 'cpu')
    assert not osp.exists(tmp_path / 'iter_3.pth') and _temporaries(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == _keep_sigterm_handler
    logs = glob.glob(str(tmp_path / '*' / '*.log'))
    assert len(logs) == 1
    found = STOP_LINE.findall(open(logs[0]).read())
    assert found == [('2', str(tmp_path / 'iter_2.pth'))]


def _runner(work_dir, iteration=0, loop=None):
    return SimpleNamespace(iter=iteration, work_dir=str(work_dir), train_loop=loop,
                           logger=logging.getLogger('test_sigterm'))


def test_handler_only_records_and_the_stop_comes_after_the_iteration(tmp_path, caplog,
                                                                     _keep_sigterm_handler):
    hook = GracefulStopHook()
    assert hook.priority == 'LOWEST'
    runner = _runner(tmp_path, iteration=4)
    hook.before_train(runner)
    assert signal.getsignal(signal.SIGTERM) == hook._on_sigterm
    hook.after_train_iter(runner, 4)  # no signal: nothing happens

    os.kill(os.getpid(), signal.SIGTERM)  # the process lives on: only a flag is set
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    with caplog.at_level(logging.WARNING, logger='test_sigterm'), \
            pytest.raises(SystemExit) as info:
        hook.after_train_iter(runner, 4)
    assert info.value.code == 143
    assert [r.getMessage() for r in caplog.records] == [
        f'Training stopped by SIGTERM at iteration 5, after the iteration had finished: the '
        f'last checkpoint is {tmp_path / "iter_4.pth"}; to go on from it, run the same command '
        'with --resume (tools/train.py CONFIG --resume, the same work_dir), or set '
        'resume=True in the config.'
    ]
    # the handler of before the run is back
    assert signal.getsignal(signal.SIGTERM) == _keep_sigterm_handler


def test_no_checkpoint_yet_is_said(tmp_path, caplog):
    hook = GracefulStopHook()
    hook.before_train(_runner(tmp_path))
    os.kill(os.getpid(), signal.SIGTERM)
    with caplog.at_level(logging.WARNING, logger='test_sigterm'), pytest.raises(SystemExit):
        hook.after_train_iter(_runner(tmp_path), 0)
    assert 'at iteration 1, after the iteration had finished: no checkpoint has been written ' \
        'yet' in caplog.text


def test_after_train_restores_the_previous_handler(tmp_path, _keep_sigterm_handler):
    calls = []
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    previous = signal.getsignal(signal.SIGTERM)
    hook = GracefulStopHook()
    hook.before_train(_runner(tmp_path))
    hook.before_train(_runner(tmp_path))  # a second call keeps the first previous handler
    hook.after_train(_runner(tmp_path))
    assert signal.getsignal(signal.SIGTERM) == previous
    os.kill(os.getpid(), signal.SIGTERM)
    assert calls == [signal.SIGTERM]


def test_outside_the_main_thread_nothing_is_installed(tmp_path, _keep_sigterm_handler):
    hook, errors = GracefulStopHook(), []

    def train():
        try:
            hook.before_train(_runner(tmp_path))
            hook.after_train_iter(_runner(tmp_path), 0)
            hook.after_train(_runner(tmp_path))
        except BaseException as e:  # reported below, SystemExit included
            errors.append(e)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGTERM) == _keep_sigterm_handler


class _Loop:
    """Stands in for a train loop: hooks are called from inside ``run``."""

    def run(self, hook, runner, signal_inside=False):
        hook.before_train(runner)
        if signal_inside:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_run_ended_by_an_exception_does_not_keep_sigterm(tmp_path, _keep_sigterm_handler):
    """No after_train: the next SIGTERM outside the loop goes to the previous handler."""
    calls = []
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    previous = signal.getsignal(signal.SIGTERM)
    loop = _Loop()
    runner = _runner(tmp_path, loop=loop)
    hook = GracefulStopHook()
    loop.run(hook, runner, signal_inside=True)  # inside the loop: recorded only
    assert calls == [] and hook.stop_requested()
    os.kill(os.getpid(), signal.SIGTERM)  # the loop has ended
    assert calls == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) == previous


def test_ranks_agree_on_the_stop(tmp_path, caplog, monkeypatch):
    """Another rank got SIGTERM: this one stops after the same iteration."""
    def other_rank_stops(tensor, op):
        assert op == 'max'
        tensor.fill_(1.0)

    monkeypatch.setattr(hook_module, 'get_world_size', lambda: 2)
    monkeypatch.setattr(hook_module, 'all_reduce', other_rank_stops)
    hook = GracefulStopHook()
    hook.before_train(_runner(tmp_path))
    with caplog.at_level(logging.WARNING, logger='test_sigterm'), \
            pytest.raises(SystemExit) as info:
        hook.after_train_iter(_runner(tmp_path, iteration=6), 6)
    assert info.value.code == 143
    assert 'stopped by SIGTERM (received by another rank) at iteration 7' in caplog.text
