"""Shared pieces of the security tests: hostile payloads, checkpoints, a loopback server."""
import contextlib
import functools
import http.server
import os
import os.path as osp
import threading
import uuid
import zipfile

import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import nn

from mmseg_attn.security.inspection import pickle_globals

DATA = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
#: A checkpoint written by mmengine's Runner (3 iterations of :class:`TinyModel`
#: with its norm, RNGStateHook on) with mmseg_attn's compat as of 0.1: the format that
#: must keep loading. Written by ``data/make_runner_checkpoint.py``.
RUNNER_CHECKPOINT = osp.join(DATA, 'runner_iter_3.pth')


class RunsACommand:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def code_payload(marker) -> str:
    """Python config text that creates ``marker`` when executed."""
    return f"gpu_ids = [0]\n__import__('os').system('touch {marker}')\n"


def pickled_globals(path) -> set:
    """Names of every global that a torch checkpoint's pickle refers to."""
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith('data.pkl'))
        return pickle_globals(zf.read(name))


def runner_like_checkpoint():
    """The parts of a checkpoint that mmengine's Runner writes."""
    hub = MessageHub.get_instance(f'test_security_{uuid.uuid4().hex}')  # a fresh one
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
        hub.update_scalar('train/lr', np.float64(0.01))
    hub.update_info('iter', 3)
    hub.update_info('best_score', np.float64(0.5))
    model = torch.nn.Conv2d(3, 4, 1)
    return dict(meta=dict(epoch=0, iter=3, seed=0, dataset_meta=dict(classes=('a', 'b'))),
                state_dict=model.state_dict(),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
                message_hub=hub.state_dict(),
                rng_state=dict(numpy=dict(keys=np.arange(624, dtype=np.uint32), pos=3)),
                param_schedulers=[dict(last_step=3, base_lrs=[0.01])])


class TinyModel(BaseModel):
    """A 1x1 convolution (followed by a BatchNorm with ``norm``) as an mmengine model."""

    def __init__(self, norm=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.bn = nn.BatchNorm2d(2) if norm else nn.Identity()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(self.conv(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class TinySet(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(i)))


def tiny_runner(work_dir, max_iters, **kwargs):
    """A CPU mmengine Runner of a 1x1 convolution that checkpoints every iteration."""
    from mmengine.runner import Runner
    return Runner(
        model=TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=TinySet(), sampler=dict(type='DefaultSampler'),
                              batch_size=2, num_workers=0,
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
        default_scope='mmengine', **kwargs)


@contextlib.contextmanager
def serve_directory(folder):
    """An HTTP server on 127.0.0.1 serving ``folder``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass
