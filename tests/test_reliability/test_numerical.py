"""A loss that turns NaN stops the run (mmseg's own train.py) with the last good
checkpoint kept; the attention blocks stay finite under CPU bfloat16 autocast."""
import os
import os.path as osp
import re

import torch
import torch.nn as nn
from mmengine.config import Config

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import load_checkpoint_file
from mmseg_attn.models.layers import CBAM, FullyAttentionalBlock
from tests.utils import last_checkpoint, run_mmseg_tool, toy_config

DEMO_CONFIG = 'tests/data/demo_tiny.py'  # the demo at 1/8 of its widths


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(toy_cityscapes, tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.custom_hooks = Config.fromfile('configs/_base_/default_runtime.py').custom_hooks
    path = toy_config(cfg, toy_cityscapes, tmp_path, dataset='cityscapes', max_iters=8,
                      cfg_options={'default_hooks.checkpoint.interval': 1})
    # a learning rate that blows the weights up within a few iterations
    result = run_mmseg_tool('train', path, '--work-dir', tmp_path, '--cfg-options',
                            'optim_wrapper.optimizer.lr=1e6', check=False)
    out = result.stdout
    assert result.returncode != 0
    found = re.search(r'NonFiniteLossError: Training stopped: the loss became non-finite at '
                      r'iteration (\d+): (.*)', out)
    assert found, out[-4000:]
    bad_iter = int(found.group(1))
    assert 'loss_ce = nan' in found.group(2) or 'loss_ce = inf' in found.group(2)
    assert 1 < bad_iter < 8
    # the bad iteration's weights were never saved; the last checkpoint is finite
    saved = sorted(int(f[5:-4]) for f in os.listdir(tmp_path) if re.fullmatch(r'iter_\d+\.pth', f))
    assert saved == list(range(1, bad_iter))
    last = last_checkpoint(tmp_path)
    assert osp.basename(last) == f'iter_{bad_iter - 1}.pth'
    assert f'The last checkpoint on disk is {last}' in found.group(2)
    state = load_checkpoint_file(last, 'cpu')['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class _Tiny(nn.Module):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.cbam = CBAM(16, ratio=4, norm_cfg=dict(type='BN'))
        self.fla = FullyAttentionalBlock(16, norm_cfg=dict(type='BN'))
        self.head = nn.Conv2d(16, 5, 1)

    def forward(self, x):
        return self.head(self.fla(self.cbam(self.stem(x))))


def test_cbam_and_fla_train_step_under_bfloat16_autocast():
    torch.manual_seed(0)
    model = _Tiny().train()
    with torch.no_grad():
        model.fla.gamma.fill_(1.0)  # let the attention branch count
    x = torch.randn(2, 3, 13, 11) * 30  # large activations: big softmax energies
    target = torch.randint(0, 5, (2, 13, 11))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits.float(), target)
    assert logits.dtype == torch.bfloat16
    assert torch.isfinite(logits.float()).all() and torch.isfinite(loss)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [n for n, g in grads.items() if g is None or not torch.isfinite(g).all()]
    # the gates and the FLA softmax path all received gradient
    for name in ('fla.conv1.weight', 'fla.gamma', 'cbam.channel_attention.mlp.0.conv.weight',
                 'cbam.spatial_attention.conv.conv.weight'):
        assert grads[name].abs().sum() > 0, name
