"""Unit tests of the Runner hooks of mmseg_attn.engine with a stand-in runner."""
import logging
import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

import mmseg_attn  # noqa: F401  (allow-list for numpy arrays in checkpoints)
from mmseg_attn.engine import (
    CheckpointShapeHook,
    CheckpointShapeMismatchError,
    FiniteLossHook,
    NonFiniteLossError,
    NonFiniteWeightsError,
    RNGStateHook,
    SyncNormBuffersHook,
)
from mmseg_attn.engine.hooks.rng_state_hook import get_rng_state, set_rng_state


def _runner(iteration=0, work_dir='.', model=None, loop=None):
    return SimpleNamespace(iter=iteration, work_dir=str(work_dir), cfg={}, model=model,
                           train_loop=loop, logger=logging.getLogger('test_hooks'))


def _draw():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    state = get_rng_state()
    expected = _draw()
    path = tmp_path / 'state.pth'
    torch.save(dict(rng_state=state), str(path))
    loaded = torch.load(str(path), weights_only=True)['rng_state']
    _draw()
    set_rng_state(loaded)
    assert _draw() == expected


class _Loop:

    def __init__(self):
        self.dataloader_iterator = iter(range(100))


def _started_after_loading(iteration, checkpoint_iter):
    """An RNGStateHook through a checkpoint load and the start of training.

    Returns the hook, the runner, the loop's original iterator and the draws
    that the saved RNG state gives.
    """
    hook, loop = RNGStateHook(), _Loop()
    original = loop.dataloader_iterator
    saved = get_rng_state()
    expected = _draw()
    runner = _runner(iteration=iteration, loop=loop)
    hook.after_load_checkpoint(runner, dict(rng_state=saved, meta=dict(iter=checkpoint_iter)))
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    return hook, runner, original, expected


def test_rng_restored_right_before_first_new_batch():
    """After mmengine's skip of ``iter`` batches, before the next one is read."""
    hook, runner, original, expected = _started_after_loading(3, 3)
    loop = runner.train_loop
    for i in range(3):  # the skipped batches: the generators are left alone
        assert next(loop.dataloader_iterator) == i
        assert _draw() != expected
    assert next(loop.dataloader_iterator) == 3  # the first new batch
    assert loop.dataloader_iterator is original
    assert _draw() == expected


def test_rng_restored_before_first_epoch_of_epoch_based_loop():
    hook, loop = RNGStateHook(), SimpleNamespace()  # no dataloader_iterator
    saved = get_rng_state()
    expected = _draw()
    runner = _runner(iteration=8, loop=loop)
    hook.after_load_checkpoint(runner, dict(rng_state=saved, meta=dict(iter=8)))
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert _draw() == expected
    hook.before_train_epoch(runner)  # only once
    assert _draw() != expected


def test_load_from_does_not_touch_rng():
    """``load_from`` (fine-tuning) starts at iteration 0: nothing is restored."""
    _, runner, original, expected = _started_after_loading(0, 40)
    loop = runner.train_loop
    assert loop.dataloader_iterator is original
    next(loop.dataloader_iterator)
    assert _draw() != expected


def test_validation_leaves_training_rng_alone():
    hook = RNGStateHook()
    runner = _runner()
    state = get_rng_state()
    expected = _draw()
    set_rng_state(state)
    hook.before_val(runner)
    _draw()  # whatever validation draws
    hook.after_val(runner)
    assert _draw() == expected


def test_checkpoint_gets_rng_state():
    checkpoint = dict(meta=dict(iter=5))
    RNGStateHook().before_save_checkpoint(_runner(), checkpoint)
    assert set(checkpoint['rng_state']) >= {'torch', 'numpy', 'python'}
    assert torch.equal(checkpoint['rng_state']['torch'], torch.get_rng_state())


def test_finite_loss_hook_names_iteration_and_component(tmp_path):
    hook = FiniteLossHook()
    runner = _runner(iteration=11, work_dir=tmp_path)
    ok = dict(loss=torch.tensor(1.5), **{'decode.loss_ce': torch.tensor(1.0),
                                          'decode.acc_seg': torch.tensor(50.0)})
    hook.after_train_iter(runner, 11, outputs=ok)
    bad = dict(loss=torch.tensor(float('nan')), **{'decode.loss_ce': torch.tensor(1.0),
                                                    'aux.loss_ce': torch.tensor(float('inf'))})
    with pytest.raises(NonFiniteLossError) as info:
        hook.after_train_iter(runner, 11, outputs=bad)
    message = str(info.value)
    assert 'iteration 12' in message
    assert 'aux.loss_ce = inf' in message and 'loss = nan' in message
    assert 'decode.loss_ce' not in message
    assert 'No checkpoint had been written yet' in message
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_10.pth'))
    with pytest.raises(NonFiniteLossError, match='iter_10.pth'):
        hook.after_train_iter(runner, 11, outputs=bad)


def test_finite_loss_hook_refuses_non_finite_checkpoint(tmp_path):
    hook = FiniteLossHook()
    runner = _runner(iteration=4, work_dir=tmp_path)
    state = dict(w=torch.ones(3), b=torch.zeros(2), n=torch.tensor(3))
    hook.before_save_checkpoint(runner, dict(state_dict=state, meta=dict(iter=5)))
    state['b'][1] = float('nan')
    with pytest.raises(NonFiniteWeightsError, match=r'iteration 5: .*\(b\)'):
        hook.before_save_checkpoint(runner, dict(state_dict=state, meta=dict(iter=5)))
    FiniteLossHook(check_weights=False).before_save_checkpoint(
        runner, dict(state_dict=state, meta=dict(iter=5)))
    with pytest.raises(TypeError, match='check_weights'):
        FiniteLossHook(check_weights='yes')


class _Segmentor(nn.Module):

    def __init__(self, num_classes):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)
        self.conv_seg = nn.Conv2d(8, num_classes, 1)


def test_checkpoint_shape_hook():
    model = _Segmentor(7)
    runner = _runner(model=model)
    good = dict(state_dict={f'module.{k}': v for k, v in _Segmentor(7).state_dict().items()})
    CheckpointShapeHook().after_load_checkpoint(runner, good)

    other = dict(state_dict=_Segmentor(19).state_dict(), meta={})
    with pytest.raises(CheckpointShapeMismatchError) as info:
        CheckpointShapeHook().after_load_checkpoint(runner, other)
    message = str(info.value)
    assert 'conv_seg.weight: checkpoint [19, 8, 1, 1], model [7, 8, 1, 1]' in message
    assert 'conv_seg.bias: checkpoint [19], model [7]' in message
    assert 'backbone' not in message
    assert "allow_mismatch=['conv_seg']" in message
    CheckpointShapeHook(allow_mismatch=['conv_seg']).after_load_checkpoint(runner, other)

    foreign = dict(state_dict=nn.Linear(3, 3).state_dict())
    with pytest.raises(CheckpointShapeMismatchError, match='shares no tensor name'):
        CheckpointShapeHook().after_load_checkpoint(runner, foreign)

    with pytest.raises(TypeError, match='allow_mismatch'):
        CheckpointShapeHook(allow_mismatch='conv_seg')
    with pytest.raises(ValueError, match='allow_mismatch'):
        CheckpointShapeHook(allow_mismatch=['conv_seg('])


def test_cuda_generator_saved_and_restored_on_cpu(monkeypatch):
    """The current device's CUDA state goes in; on resume it is handed back as a CPU tensor
    (mmengine maps a resumed checkpoint onto the GPU)."""
    restored = []
    fake = torch.arange(16, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'is_initialized', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_rng_state', lambda device='cuda': fake.clone())
    monkeypatch.setattr(torch.cuda, 'set_rng_state', lambda s, device='cuda': restored.append(s))
    state = get_rng_state()
    assert torch.equal(state['cuda'], fake)
    assert set_rng_state(state) is None
    assert restored and restored[0].device.type == 'cpu' and torch.equal(restored[0], fake)
    del state['cuda']
    assert 'no CUDA generator state' in set_rng_state(state)


def test_sync_norm_buffers_hook_checks_interval():
    assert SyncNormBuffersHook(interval=5).interval == 5
    with pytest.raises(ValueError, match='interval'):
        SyncNormBuffersHook(interval=0)


def test_every_hook_is_registered_by_importing_the_package():
    """A config naming any hook of the package works after ``import mmseg_attn``
    alone (as ``custom_imports`` does it), without importing submodules."""
    code = ('import mmseg_attn\n'
            'from mmseg.registry import HOOKS\n'
            'names = mmseg_attn.engine.__all__\n'
            'hooks = [n for n in names if n.endswith("Hook")]\n'
            'assert "SyncNormBuffersHook" in hooks, hooks\n'
            'for name in hooks:\n'
            '    assert HOOKS.get(name) is getattr(mmseg_attn.engine, name), name\n'
            'print(sorted(hooks))\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'SyncNormBuffersHook' in result.stdout
