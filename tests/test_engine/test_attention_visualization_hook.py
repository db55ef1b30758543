"""AttentionVisualizationHook: pictures during a short run, without disturbing training."""
import glob
import os.path as osp
import random
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmseg_attn  # noqa: F401  (registers the hook)
from mmseg_attn.engine import AttentionVisualizationHook
from mmseg_attn.engine.hooks import attention_visualization_hook as hook_module
from tests.utils import REPO_ROOT, toy_config

CONFIG = osp.join(REPO_ROOT, 'tests', 'data', 'attention_vis_fcn_cbam_tiny.py')


class _Visualizer:
    """Records what is sent to the backends."""

    def __init__(self):
        self.images = []

    def add_image(self, name, image, step=0):
        self.images.append((name, image, step))


def _sent_pictures(work_dir):
    return sorted(glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'vis_image',
                                     'attention_*.png')))


@pytest.fixture(scope='module')
def trained_runner(toy_cityscapes, tmp_path_factory):
    """A Runner of the tiny CBAM FCN trained for 2 iterations with the hook every 2."""
    work_dir = tmp_path_factory.mktemp('attention_hook')
    cfg = Config.fromfile(CONFIG)
    # mmseg's runtime names its visualizer 'visualizer', and mmengine hands every later
    # Runner of the process the instance first built under a name (with its save_dir):
    # a name of its own makes this run write into its own work_dir
    cfg.visualizer = dict(cfg.visualizer, name=f'attention_hook_{osp.basename(work_dir)}')
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='AttentionVisualizationHook', interval=2, num_images=2)
    ]
    path = toy_config(cfg, toy_cityscapes, str(work_dir), dataset='cityscapes', max_iters=2,
                      crop_size=(64, 64))
    runner = Runner.from_cfg(Config.fromfile(path))
    runner.train()
    return runner, work_dir


def test_hook_sends_pictures_during_training(trained_runner):
    runner, work_dir = trained_runner
    files = _sent_pictures(work_dir)
    names = {osp.basename(f) for f in files}
    # 2 validation images x (panel, spatial maps, channel gates), at step 2
    stems = {osp.basename(p).split('_leftImg8bit')[0]
             for p in glob.glob(osp.join(runner.val_dataloader.dataset.data_prefix['img_path'],
                                         '*', '*.png'))}
    assert len(stems) == 2
    expected = {f'attention_{s}_leftImg8bit_{fig}_2.png' for s in stems
                for fig in ('panel', 'spatial_maps', 'channel_gates')}
    assert names == expected
    for f in files:
        with Image.open(f) as png:
            rgb = np.asarray(png.convert('RGB'))
        assert rgb.shape[1] >= 480 and rgb.std() > 20, f


def test_drawing_leaves_training_state_alone(trained_runner, tmp_path):
    runner, _ = trained_runner
    model = runner.model
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    visualizer, runner.visualizer = runner.visualizer, _Visualizer()
    try:
        random.seed(1)
        np.random.seed(1)
        torch.manual_seed(1)
        expected = (random.random(), np.random.rand(), torch.rand(1))
        random.seed(1)
        np.random.seed(1)
        torch.manual_seed(1)
        hook = AttentionVisualizationHook(num_images=1, class_name='car', figures=['panel'])
        assert hook.draw(runner, step=7) == 1
        assert (random.random(), np.random.rand(), torch.rand(1)) == expected
        sent = runner.visualizer.images
    finally:
        runner.visualizer = visualizer
    assert [(n.endswith('_panel'), s) for n, _, s in sent] == [(True, 7)]
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():  # weights and BN running statistics
        torch.testing.assert_close(v, params[k], rtol=0, atol=0, msg=k)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)


def test_only_rank_zero_draws(trained_runner, monkeypatch):
    runner, _ = trained_runner
    monkeypatch.setattr(hook_module, 'is_main_process', lambda: False)
    fake = SimpleNamespace(model=runner.model, visualizer=_Visualizer(),
                           val_loop=runner.val_loop, cfg=runner.cfg)
    assert AttentionVisualizationHook(num_images=1).draw(fake, step=1) == 0
    assert fake.visualizer.images == []


def test_wrapped_model_is_drawn_through_its_module(trained_runner):
    from mmengine.model import MMDistributedDataParallel
    runner, _ = trained_runner
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0,
                            world_size=1)
    try:
        wrapped = MMDistributedDataParallel(runner.model, device_ids=None)
        fake = SimpleNamespace(model=wrapped, visualizer=_Visualizer(),
                               val_loop=runner.val_loop, cfg=runner.cfg)
        hook = AttentionVisualizationHook(num_images=1, figures=['panel', 'channel_gates'])
        assert hook.draw(fake, step=3) == 2
        assert runner.model.training
    finally:
        dist.destroy_process_group()
    name, image, step = fake.visualizer.images[0]
    assert name.startswith('attention_') and step == 3 and image.dtype == np.uint8


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match='interval must be a positive int'):
        AttentionVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='figures must be a list of'):
        AttentionVisualizationHook(figures=['panel', 'nonsense'])
    with pytest.raises(ValueError, match='not both'):
        AttentionVisualizationHook(class_name='car', class_id=13)
