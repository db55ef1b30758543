"""mmseg_attn.apis.cpu_dist: what setup_cpu_distributed changes, and when not."""
import os
import socket

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from mmseg_attn.apis import is_cpu_distributed, setup_cpu_distributed


def _cfg(launcher):
    norm = dict(type='SyncBN', requires_grad=True)
    return Config(dict(
        launcher=launcher,
        sync_bn='torch',
        env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
        model=dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', norm_cfg=norm),
                   decode_head=dict(type='FCNHead', norm_cfg=norm)),
        custom_hooks=[dict(type='EMAHook')]))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_single_process_run_is_untouched():
    cfg = _cfg('none')
    before = cfg.to_dict()
    assert not is_cpu_distributed('none')
    assert setup_cpu_distributed(cfg) is False
    assert cfg.to_dict() == before


def test_gpu_path_is_untouched(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg('pytorch')
    before = cfg.to_dict()
    assert not is_cpu_distributed('pytorch')
    assert setup_cpu_distributed(cfg) is False
    assert cfg.to_dict() == before
    assert not torch_dist.is_initialized()


def test_cpu_path_rewrites_config_and_inits_gloo(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = _cfg('pytorch')
    try:
        assert setup_cpu_distributed(cfg) is True
        assert torch_dist.is_initialized()
        assert torch_dist.get_backend() == 'gloo'
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.decode_head.norm_cfg.type == 'BN'
    assert cfg.sync_bn is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.broadcast_buffers is False
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'SyncNormBuffersHook']


@pytest.mark.parametrize('launcher, env', [
    ('slurm', dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='node1',
                   SLURM_LOCALID='0')),
    ('mpi', dict(OMPI_COMM_WORLD_SIZE='1', OMPI_COMM_WORLD_RANK='0',
                 OMPI_COMM_WORLD_LOCAL_RANK='0')),
])
def test_cpu_path_reads_slurm_and_mpi_environments(monkeypatch, launcher, env):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(_free_port()))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = _cfg(launcher)
    try:
        assert setup_cpu_distributed(cfg) is True
        assert torch_dist.get_backend() == 'gloo'
        assert torch_dist.get_world_size() == 1 and torch_dist.get_rank() == 0
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK']) == \
        ('0', '1', '0')
