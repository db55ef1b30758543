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


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(interval=0), ValueError, 'interval must be a positive int, got 0'),
    (dict(interval=2.5), TypeError, 'interval must be a positive int, got float 2.5'),
    (dict(interval=True), TypeError, 'interval must be a positive int'),
    (dict(num_images=-1), ValueError, 'num_images must be a positive int, got -1'),
    (dict(num_images='2'), TypeError, 'num_images must be a positive int, got str'),
    (dict(class_name=3), TypeError, 'class_name must be a str'),
    (dict(class_name=' '), ValueError, 'class_name must be a class of the dataset'),
    (dict(class_id=-1), ValueError, 'class_id must be a non-negative int, got -1'),
    (dict(class_id='car'), TypeError, 'class_id must be a non-negative int or None, got str'),
    (dict(class_id=1.0), TypeError, 'class_id must be a non-negative int or None, got float'),
    (dict(class_name='car', class_id=13), ValueError, 'not both'),
    (dict(figures='panel'), ValueError, 'figures must be a list of'),
    (dict(figures=[]), ValueError, 'figures must be a list of at least one of'),
    (dict(figures=['panel', 'nonsense']), ValueError, 'figures must be a list of'),
    (dict(figures=None), ValueError, 'figures must be a list of'),
    (dict(alpha=1.5), ValueError, r'alpha must be in \[0, 1\], got 1.5'),
    (dict(alpha=float('nan')), ValueError, r'alpha must be in \[0, 1\], got nan'),
    (dict(alpha='0.5'), TypeError, r'alpha must be a number in \[0, 1\], got str'),
])
def test_bad_arguments_raise_when_the_hook_is_built(kwargs, error, message):
    with pytest.raises(error, match=message):
        AttentionVisualizationHook(**kwargs)


def test_good_arguments_are_kept():
    hook = AttentionVisualizationHook(interval=3, num_images=1, class_id=np.int64(2),
                                      figures=('panel',), alpha=1)
    assert (hook.interval, hook.num_images, hook.class_id, hook.figures, hook.alpha) == \
        (3, 1, 2, ('panel',), 1.0)
    assert type(hook.class_id) is int


def test_unknown_class_name_stops_the_run_before_its_first_iteration(toy_cityscapes, tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.visualizer = dict(cfg.visualizer, name=f'attention_hook_{osp.basename(tmp_path)}')
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='AttentionVisualizationHook', interval=2, class_name='cra')
    ]
    path = toy_config(cfg, toy_cityscapes, str(tmp_path), dataset='cityscapes', max_iters=2,
                      crop_size=(64, 64))
    runner = Runner.from_cfg(Config.fromfile(path))
    steps = []
    train_step = runner.model.train_step
    runner.model.train_step = lambda *args, **kwargs: steps.append(1) or train_step(
        *args, **kwargs)
    with pytest.raises(ValueError) as info:
        runner.train()
    message = str(info.value)
    assert message.startswith("AttentionVisualizationHook: class_name 'cra' is not a class")
    # the valid names, those of the toy Cityscapes validation set
    classes = runner.val_dataloader.dataset.metainfo['classes']
    assert len(classes) == 19 and f'the classes are: {", ".join(classes)}' in message
    assert steps == [] and runner.iter == 0
    assert not glob.glob(osp.join(str(tmp_path), '*.pth'))


def test_class_is_checked_against_the_classes_of_the_pictures(trained_runner):
    runner, _ = trained_runner
    # case-insensitive name and the last id pass
    AttentionVisualizationHook(class_name='CAR').before_train(runner)
    AttentionVisualizationHook(class_id=18).before_train(runner)
    AttentionVisualizationHook().before_train(runner)
    with pytest.raises(ValueError, match=r'class_id must be in \[0, 19\), got 19'):
        AttentionVisualizationHook(class_id=19).before_train(runner)
    # classes of a dataset that do not fit the decode head: the model's classes
    dataset = SimpleNamespace(metainfo=dict(classes=('a', 'b'), palette=[[0, 0, 0], [1, 1, 1]]))
    fake = SimpleNamespace(model=runner.model, cfg=runner.cfg,
                           val_loop=SimpleNamespace(dataloader=SimpleNamespace(dataset=dataset)))
    hook = AttentionVisualizationHook(class_name='a')
    with pytest.raises(ValueError, match="class_name 'a' is not a class of the model; "
                                         'the classes are: ') as info:
        hook.before_train(fake)
    classes = hook._classes(runner.model, dataset)
    assert len(classes) == 19 and ', '.join(classes) in str(info.value)


def test_no_val_dataloader_warns_before_training(trained_runner):
    runner, _ = trained_runner
    fake = SimpleNamespace(model=runner.model, val_loop=None)
    with pytest.warns(UserWarning, match='no val_dataloader: nothing is drawn'):
        AttentionVisualizationHook(class_name='nonsense').before_train(fake)
