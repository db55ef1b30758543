"""Write ``runner_iter_3.pth``: a checkpoint of mmengine's Runner as mmseg_attn
0.1 wrote it (the format that every later version must keep loading).

Run with the mmseg_attn release whose format it records on the path:

    python tests/test_security/data/make_runner_checkpoint.py OUT.pth
"""
import os.path as osp
import shutil
import sys
import tempfile

from mmengine.runner import Runner

import mmseg_attn  # noqa: F401  (its compat decides the format)

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from helpers import TinyModel, TinySet  # noqa: E402  (tests/test_security/helpers.py)


def main(out):
    work_dir = tempfile.mkdtemp()
    runner = Runner(
        model=TinyModel(norm=True), work_dir=work_dir,
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
