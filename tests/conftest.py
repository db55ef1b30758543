import os

import pytest
import torch
from mmengine.registry import DefaultScope

from mmseg_attn.datasets import make_toy_dataset

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs one pytest worker per core: one thread each (and in the
    # tools they start), so that the workers do not compete for the cores
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _mmseg_default_scope():
    """Every test starts in mmseg's registry scope, as mmseg's configs set it, and
    leaves none behind: a Runner built with another ``default_scope`` in one
    test (the security tests use ``'mmengine'``) must not change where the
    next test's ``MODELS.build`` looks, whatever the order of the tests."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def _toy(tmp_path_factory, layout, size):
    out = tmp_path_factory.mktemp(f'toy_{layout}')
    return make_toy_dataset(layout, str(out), num_train=6, num_val=2, image_size=size, seed=0)


@pytest.fixture(scope='session')
def toy_cityscapes(tmp_path_factory):
    """data_root of a tiny toy dataset in the Cityscapes layout."""
    return _toy(tmp_path_factory, 'cityscapes', (64, 128))


@pytest.fixture(scope='session')
def toy_ade20k(tmp_path_factory):
    """data_root of a tiny toy dataset in the ADE20K layout."""
    return _toy(tmp_path_factory, 'ade20k', (64, 80))


@pytest.fixture(scope='session')
def toy_voc(tmp_path_factory):
    """data_root of a tiny toy dataset in the Pascal VOC 2012 layout."""
    return _toy(tmp_path_factory, 'voc', (60, 80))
