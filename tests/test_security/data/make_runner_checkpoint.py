"""Write ``runner_iter_3.pth``: a checkpoint of mmengine's Runner as mmseg_attn
0.1 wrote it (the format that every later version must keep loading).

Run with the mmseg_attn release whose format it records on the path:

    python tests/test_security/data/make_runner_checkpoint.py OUT.pth
"""
import os.path as osp
import shutil
import sys
import tempfile

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import mmseg_attn  # noqa: F401  (its compat decides the format)


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(self.conv(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class TinySet(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(i)))


def main(out):
    work_dir = tempfile.mkdtemp()
    runner = Runner(
        model=TinyModel(), work_dir=work_dir,
        train_dataloader=dict(dataset=TinySet(), sampler=dict(type='DefaultSampler'),
                              batch_size=2, num_workers=0,
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=3)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='mmseg.RNGStateHook')],
        randomness=dict(seed=0), default_scope='mmengine', experiment_name='fixture')
    runner.train()
    shutil.copy(osp.join(work_dir, 'iter_3.pth'), out)
    shutil.rmtree(work_dir)


if __name__ == '__main__':
    main(sys.argv[1])
