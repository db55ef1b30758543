"""Helpers for end-to-end tests that run mmseg's own tools on toy datasets."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_attn.utils import convert_sync_bn_cfg, drop_pretrained_cfg, leaf_datasets

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

_DATASET_TYPES = {
    'cityscapes': 'CityscapesDataset',
    'ade20k': 'ADE20KDataset',
    'voc': 'PascalVOCDataset',
}


def repo_configs(folder: str) -> Tuple[str, List[str]]:
    """``configs/<folder>`` of this repository and its config files, sorted."""
    config_dir = osp.join(REPO_ROOT, 'configs', folder)
    return config_dir, sorted(glob.glob(osp.join(config_dir, '*.py')))


def load_tool(path: str):
    """The module of one of this repository's tools (``'tools/deployment/pytorch2onnx.py'``),
    loaded from its file under a unique name, so that tests can call its functions."""
    import importlib.util
    name = 'tool_' + osp.splitext(path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # what a pickling child process (spawn) imports by name
    spec.loader.exec_module(module)
    return module


def mmseg_tool_path(tool: str) -> str:
    """Path of mmseg's own ``tools/<tool>.py`` (the copy shipped in the package)."""
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', f'{tool}.py')
    assert osp.isfile(path), f'mmseg does not ship {path}'
    return path


def toy_config(config,
               data_root: str,
               work_dir: str,
               dataset: Optional[str] = None,
               max_iters: int = 10,
               crop_size: Tuple[int, int] = (64, 64),
               batch_size: int = 2,
               cfg_options: Optional[dict] = None) -> str:
    """Shrink a real config to a few CPU iterations on a toy dataset.

    SyncBN becomes BN, Pretrained init is dropped, the dataloaders read
    ``data_root`` with resize scales fitted to the toy images, and the
    schedule is ``max_iters`` iterations with one validation and one
    checkpoint at the end. The result is dumped into ``work_dir``.

    Returns:
        str: Path of the dumped config.
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    with open(osp.join(data_root, 'toy_dataset.json')) as f:
        toy = json.load(f)
    if dataset is not None and toy['layout'] != dataset:
        raise ValueError(f'{data_root} holds a toy {toy["layout"]} dataset, not {dataset}')
    h, w = toy['image_size']

    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    cfg.model.data_preprocessor.size = crop_size
    cfg.model.test_cfg = dict(mode='whole')

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.update(batch_size=batch_size if name == 'train_dataloader' else 1,
                      num_workers=0, persistent_workers=False)
        for ds in leaf_datasets(loader['dataset']):
            expected = _DATASET_TYPES[toy['layout']]
            if ds['type'] != expected:
                raise ValueError(f'the config reads {ds["type"]}, the toy data at {data_root} '
                                 f'is for {expected}')
            ds['data_root'] = data_root
            for t in ds['pipeline']:
                if t['type'] in ('Resize', 'RandomResize'):
                    t['scale'] = (w, h)
                elif t['type'] == 'RandomCrop':
                    t['crop_size'] = crop_size
                elif t['type'] == 'Pad' and 'size' in t:  # VOC pads crops to 512 x 512
                    t['size'] = crop_size
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler = [
        dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=max_iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, max_iters // 2),
                                    log_metric_by_epoch=False)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(str(work_dir), 'toy_' + osp.basename(cfg.filename or 'config.py'))
    cfg.dump(path)
    return path


def pretrained_checkpoints(cfg) -> List[str]:
    """Every ``Pretrained`` checkpoint named anywhere in a (model) config."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained':
                found.append(node['checkpoint'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg)
    return found


def seg_batch(num_classes: int, size: Tuple[int, int] = (64, 64),
              batch: int = 2) -> Tuple[torch.Tensor, List[SegDataSample]]:
    """Random images ``(N, 3, H, W)`` with values in [0, 255] and labelled samples."""
    torch.manual_seed(0)
    inputs = torch.randint(0, 256, (batch, 3) + tuple(size)).float()
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, ) + tuple(size)))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    return inputs, samples


def import_mmpretrain_models() -> None:
    """Register mmpretrain's models (the ``mmpretrain.`` scope) for a test.

    ``mmpretrain.models`` imports ``torchvision.ops.boxes`` for its box
    utilities and grounding metrics only; no backbone uses it. Where
    torchvision is not installed (PyPI has no build of it for the CPU torch
    pinned here), an empty stand-in is put in ``sys.modules`` for the import
    and removed right after, so a later ``import torchvision`` still fails.
    """
    import importlib
    import types
    try:
        importlib.import_module('torchvision.ops.boxes')
    except ImportError:
        names = ['torchvision', 'torchvision.ops', 'torchvision.ops.boxes']
        stubs = {name: types.ModuleType(name) for name in names}
        stubs['torchvision'].ops = stubs['torchvision.ops']
        stubs['torchvision.ops'].boxes = stubs['torchvision.ops.boxes']
        sys.modules.update(stubs)
        try:
            importlib.import_module('mmpretrain.models')
        finally:
            for name in names:
                sys.modules.pop(name, None)
    else:
        importlib.import_module('mmpretrain.models')


def run_mmseg_tool(tool: str, *args, timeout: int = 600, check: bool = True,
                   env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run mmseg's own ``tools/<tool>.py`` with this interpreter.

    stdout and stderr are merged into ``result.stdout``. With ``check`` the
    test fails with the output tail when the tool exits non-zero.
    """
    cmd = [sys.executable, mmseg_tool_path(tool), *map(str, args)]
    run_env = dict(os.environ, **(env or {}))
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout, env=run_env)
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited with {result.returncode}:\n'
                             f'{result.stdout[-6000:]}')
    return result


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint that mmengine's Runner recorded as its last one."""
    with open(osp.join(str(work_dir), 'last_checkpoint')) as f:
        return f.read().strip()


def signal_after_first_checkpoint(cmd, work_dir, log, signum: int, timeout: float = 120) -> int:
    """Start ``cmd`` (a training run writing into ``work_dir``, its output to
    ``log``), send it ``signum`` once its first checkpoint is recorded and
    return its exit status; the process never outlives the call."""
    marker = osp.join(str(work_dir), 'last_checkpoint')
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 900
            while time.time() < deadline:
                if osp.isfile(marker) and open(marker).read().strip():
                    break
                assert proc.poll() is None, 'training ended before its first checkpoint'
                time.sleep(0.05)
            assert proc.poll() is None, 'training ended before the signal could be sent'
            proc.send_signal(signum)
            return proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def train_and_test(config: str, work_dir, env: Optional[dict] = None,
                   test: bool = True) -> Tuple[str, str]:
    """Train with mmseg's ``tools/train.py``, then evaluate with ``tools/test.py``.

    The last checkpoint of the training in ``work_dir`` is evaluated (with
    ``test``), and the evaluation must print an mIoU.

    Returns:
        tuple[str, str]: The last checkpoint and the output of the training.
    """
    train = run_mmseg_tool('train', config, '--work-dir', str(work_dir), env=env)
    checkpoint = last_checkpoint(work_dir)
    if test:
        out = run_mmseg_tool('test', config, checkpoint, '--work-dir', str(work_dir), env=env)
        assert 'mIoU' in out.stdout
    return checkpoint, train.stdout


#: Classes of the datasets that config names end with (``*_cityscapes-512x1024.py``).
NUM_CLASSES = {'cityscapes': 19, 'ade20k': 150, 'voc12aug': 21}


def config_dataset(name: str) -> str:
    """The dataset (a key of :data:`NUM_CLASSES`) that a config name is for."""
    return next(d for d in NUM_CLASSES if f'_{d}-' in name)


def check_metafile(config_dir: str, configs: Sequence[str]) -> dict:
    """Check that ``config_dir/metafile.yaml`` lists exactly ``configs``.

    Every model must name a collection of the metafile.

    Returns:
        dict: The metafile.
    """
    meta = load(osp.join(config_dir, 'metafile.yaml'))
    assert {m['Config'] for m in meta['Models']} == {osp.relpath(p, REPO_ROOT) for p in configs}
    collections = {c['Name'] for c in meta['Collections']}
    assert all(m['In Collection'] in collections for m in meta['Models'])
    return meta
