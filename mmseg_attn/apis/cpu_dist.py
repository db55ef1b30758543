# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Distributed training and testing on machines without a GPU.

mmengine's launchers assume CUDA: ``init_dist`` calls
``torch.cuda.set_device`` before it creates the process group, the Runner
wraps the model with ``device_ids=[LOCAL_RANK]`` (which a CPU module refuses)
and ``SyncBN`` layers need CUDA. :func:`setup_cpu_distributed` prepares a
config for a CPU run before the Runner is built:

1. the ``gloo`` process group is created here (from the environment of the
   ``pytorch``, ``slurm`` or ``mpi`` launcher), so the Runner finds it and
   skips its own CUDA-only initialisation;
2. ``SyncBN`` becomes ``BN`` in the model config and ``cfg.sync_bn`` is
   dropped;
3. the model is wrapped by ``MMDistributedDataParallel`` with
   ``device_ids=None`` (DDP on CPU);
4. :class:`~mmseg_attn.engine.hooks.SyncNormBuffersHook` averages the norm
   statistics over the ranks after every iteration.

Why 4: with plain ``BN`` each rank updates its running mean and variance
from its own batches. Parameters stay identical on every rank (DDP
broadcasts them from rank 0 once and then all-reduces every gradient), but
buffers drift apart. mmengine's Runner wraps DDP with
``broadcast_buffers=False``; torch's own default, ``True``, would copy rank
0's buffers to every rank at the start of each forward, so the statistics of
the other ranks' data would be thrown away and the ranks would still differ
by the update of the last forward. Averaging after each iteration keeps the
buffers identical on every rank (the checkpoint and each rank's validation
use the same model) and makes the running mean the moving average of the
global batch mean, as with SyncBN; the running variance is the average of
the per-rank variances (it misses the spread of the rank means, so it is
slightly lower than SyncBN's).

When CUDA is available nothing here changes anything: the GPU path (NCCL,
SyncBN, mmengine's own launcher code) is mmseg's, untouched. Set
``CUDA_VISIBLE_DEVICES=-1`` to take the CPU path on a GPU machine.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import is_distributed
from mmengine.logging import print_log

from mmseg_attn.utils import convert_sync_bn_cfg

__all__ = ['init_cpu_dist', 'is_cpu_distributed', 'setup_cpu_distributed']

_LAUNCHERS = ('pytorch', 'slurm', 'mpi')
#: Registry name of the hook that averages the norm buffers over the ranks
#: (:class:`mmseg_attn.engine.hooks.SyncNormBuffersHook`, a floor above).
SYNC_HOOK = 'SyncNormBuffersHook'


def _hook_name(hook) -> Optional[str]:
    """The registry name of a hook given as a config dict (type a name or a
    class) or as a hook object."""
    kind = hook.get('type') if isinstance(hook, dict) else type(hook)
    return kind if isinstance(kind, str) else getattr(kind, '__name__', None)


def is_cpu_distributed(launcher: str) -> bool:
    """Whether a run with ``launcher`` is distributed on a machine without CUDA."""
    return launcher not in (None, 'none') and not torch.cuda.is_available()


def _slurm_env(port: Optional[int] = None) -> None:
    """Set the torch.distributed variables from slurm's, as mmengine does."""
    proc_id = int(os.environ['SLURM_PROCID'])
    ntasks = int(os.environ['SLURM_NTASKS'])
    node_list = os.environ['SLURM_NODELIST']
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ['RANK'] = str(proc_id)


def _mpi_env() -> None:
    """Set the torch.distributed variables from Open MPI's, as mmengine does."""
    if 'MASTER_ADDR' not in os.environ:
        raise KeyError('The environment variable MASTER_ADDR is not set')
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
    os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
    os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']


def init_cpu_dist(launcher: str, backend: str = 'gloo', **kwargs) -> None:
    """Create the default process group without touching CUDA.

    The CPU counterpart of :func:`mmengine.dist.init_dist`: it reads the
    same environment variables for each launcher but never calls
    ``torch.cuda.set_device``.

    Args:
        launcher (str): ``'pytorch'`` (``torchrun`` /
            ``torch.distributed.launch``), ``'slurm'`` or ``'mpi'``.
        backend (str): A backend that runs on CPU tensors, ``'gloo'`` or
            ``'mpi'``. Defaults to 'gloo'.
        **kwargs: Passed to :func:`torch.distributed.init_process_group`;
            ``timeout`` is in seconds (as in mmengine's ``dist_cfg``) and
            ``port`` sets the master port of a slurm job.
    """
    if launcher not in _LAUNCHERS:
        raise ValueError(f'launcher must be one of {_LAUNCHERS}, got {launcher!r}')
    if backend not in ('gloo', 'mpi'):
        raise ValueError(f'backend must be "gloo" or "mpi" on the CPU, got {backend!r}')
    kwargs = dict(kwargs)
    port = kwargs.pop('port', None)
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    if launcher == 'slurm':
        _slurm_env(port)
    elif launcher == 'mpi':
        _mpi_env()
    torch_dist.init_process_group(
        backend=backend,
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` for a distributed run on the CPU and init ``gloo``.

    Call it after ``cfg.launcher`` is set and the ``--cfg-options`` are
    merged, and before the Runner is built. It does nothing (and returns
    False) when ``cfg.launcher`` is ``'none'`` or CUDA is available.

    Args:
        cfg (Config): The full config; changed in place.

    Returns:
        bool: Whether the CPU distributed path was set up.
    """
    launcher = cfg.get('launcher', 'none')
    if not is_cpu_distributed(launcher):
        return False

    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if dist_cfg.get('backend', 'nccl') not in ('gloo', 'mpi'):
        dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg

    if not is_distributed():
        init_cpu_dist(launcher, **dist_cfg)

    convert_sync_bn_cfg(cfg.model)
    if cfg.get('sync_bn') is not None:
        print_log(f'sync_bn={cfg.sync_bn!r} needs CUDA; it is ignored on the CPU',
                  logger='current')
        cfg.sync_bn = None

    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper

    hooks = list(cfg.get('custom_hooks') or [])
    if not any(_hook_name(h) == SYNC_HOOK for h in hooks):
        hooks.append(dict(type=SYNC_HOOK))
    cfg.custom_hooks = hooks

    print_log(f'CPU distributed run: {torch_dist.get_backend()} process group of '
              f'{torch_dist.get_world_size()} ranks, SyncBN -> BN, DDP without device_ids, '
              'norm buffers averaged over the ranks after every iteration', logger='current')
    return True
