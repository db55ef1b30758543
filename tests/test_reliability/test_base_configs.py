"""Our dataset and runtime base configs: mmseg's own plus the checked loaders
and the reliability hooks, nothing else changed; they build and load toy data."""
import copy
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_attn  # noqa: F401
from mmseg_attn.datasets import LoadCheckedAnnotations, LoadCheckedImageFromFile, make_toy_dataset

NUM_CLASSES = {'cityscapes': 19, 'cityscapes_1024x1024': 19, 'cityscapes_769x769': 19,
               'ade20k': 150, 'pascal_voc12': 21, 'pascal_voc12_aug': 21}
LAYOUT = {'cityscapes': 'cityscapes', 'cityscapes_1024x1024': 'cityscapes',
          'cityscapes_769x769': 'cityscapes', 'ade20k': 'ade20k', 'pascal_voc12': 'voc',
          'pascal_voc12_aug': 'voc'}
STOCK_LOADER = {'LoadCheckedImageFromFile': 'LoadImageFromFile',
                'LoadCheckedAnnotations': 'LoadAnnotations'}


def _stock(name: str) -> Config:
    import mmseg
    return Config.fromfile(osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', '_base_',
                                    name))


def _normalise(obj, loaders):
    """Plain containers without ``_scope_``; checked loaders turned back into stock ones."""
    if isinstance(obj, dict):
        out = {k: _normalise(v, loaders) for k, v in obj.items() if k != '_scope_'}
        if out.get('type') in STOCK_LOADER:
            loaders.append(dict(out))
            out['type'] = STOCK_LOADER[out['type']]
            for key in ('num_classes', 'ignore_index', 'on_error'):
                out.pop(key, None)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_normalise(v, loaders) for v in obj)
    return obj


@pytest.mark.parametrize('name', list(NUM_CLASSES))
def test_dataset_base_is_mmseg_with_checked_loaders(name):
    ours = Config.fromfile(f'configs/_base_/datasets/{name}.py')
    stock = _stock(f'datasets/{name}.py')
    loaders, none = [], []
    assert _normalise(ours.to_dict(), loaders) == _normalise(stock.to_dict(), none)
    assert not none  # the stock config has no checked loader
    # every loading transform of every pipeline (train, val, test, TTA) is checked
    dataloaders = [ours[k] for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    flat = []
    _normalise([d.to_dict() for d in dataloaders] + [ours.tta_pipeline], flat)
    images = [t for t in flat if t['type'] == 'LoadCheckedImageFromFile']
    labels = [t for t in flat if t['type'] == 'LoadCheckedAnnotations']
    assert images and labels
    assert all(t['num_classes'] == NUM_CLASSES[name] for t in labels)
    assert all(t.get('on_error', 'raise') == 'raise' for t in images + labels)


def test_runtime_base_is_mmseg_plus_hooks():
    ours = Config.fromfile('configs/_base_/default_runtime.py').to_dict()
    stock = _stock('default_runtime.py').to_dict()
    hooks = ours.pop('custom_hooks')
    assert [h['type'] for h in hooks] == ['FiniteLossHook', 'RNGStateHook', 'CheckpointShapeHook',
                                         'GracefulStopHook']
    assert _normalise(ours, []) == _normalise(stock, [])
    from mmseg.registry import HOOKS
    init_default_scope('mmseg')
    for hook in hooks:
        assert HOOKS.build(copy.deepcopy(hook)).__class__.__name__ == hook['type']


def _leaves(dataset_cfg):
    if 'datasets' in dataset_cfg:
        for d in dataset_cfg['datasets']:
            yield from _leaves(d)
    else:
        yield dataset_cfg


@pytest.mark.parametrize('name', list(NUM_CLASSES))
def test_dataset_base_loads_toy_data(name, tmp_path):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    root = make_toy_dataset(LAYOUT[name], str(tmp_path), num_train=2, num_val=1,
                            image_size=(32, 48), seed=0)
    cfg = Config.fromfile(f'configs/_base_/datasets/{name}.py')
    for split in ('train', 'val'):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset
        for leaf in _leaves(dataset_cfg):
            leaf.data_root = root
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) >= 1
        sample = dataset[0]
        seg = sample['data_samples'].gt_sem_seg.data
        # train: cropped together; val: the label stays at the image's original size
        assert seg.shape[-2:] == (sample['inputs'].shape[-2:] if split == 'train' else (32, 48))
        values = set(seg.unique().tolist()) - {255}
        assert values and max(values) < NUM_CLASSES[name]
        leaf = getattr(dataset, 'datasets', [dataset])[0]
        kinds = [type(t) for t in leaf.pipeline.transforms]
        assert LoadCheckedImageFromFile in kinds and LoadCheckedAnnotations in kinds



def _loaders(node, found):
    """Every transform config of a config tree whose type loads an image or a label."""
    if isinstance(node, dict):
        if str(node.get('type', '')).split('.')[-1] in (
                'LoadImageFromFile', 'LoadAnnotations', 'LoadCheckedImageFromFile',
                'LoadCheckedAnnotations'):
            found.append(node)
        for value in node.values():
            _loaders(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _loaders(value, found)
    return found


@pytest.mark.parametrize('folder', ['demo', 'bisenet', 'flanet', 'attention'])
def test_every_config_loads_through_the_checked_loaders(folder):
    """No config of the repository reads a dataset with the stock loaders, which
    give a plausible but wrong mIoU on labels out of range; every label loader
    checks the range of the model's classes."""
    from tests.utils import repo_configs
    _, configs = repo_configs(folder)
    assert configs
    for path in configs:
        cfg = Config.fromfile(path)
        loaders = _loaders(cfg.to_dict(), [])
        name = osp.basename(path)
        assert loaders, name
        stock = [t['type'] for t in loaders if 'Checked' not in t['type']]
        assert not stock, f'{name} loads with {stock}'
        head = cfg.model.decode_head
        num_classes = (head[-1] if isinstance(head, list) else head).num_classes
        for t in loaders:
            if t['type'].endswith('LoadCheckedAnnotations'):
                assert t.get('num_classes') == num_classes, (name, t)
