# Copyright (c) mmseg_attn contributors. All rights reserved.
"""torch.compile: every block and every family capture as one graph; compiled training runs.

``fullgraph=True`` makes any graph break an error. The ``eager`` backend runs
the captured graph without code generation, which keeps the capture check
fast on a CPU; inductor compiles the same graphs (measured by hand, see
docs/deployment.md).
"""
import inspect

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS

import mmseg_attn.models.layers as layers
from mmseg_attn.utils.torch_compat import torch_version
from tests.families import tiny_segmentor
from tests.utils import REPO_ROOT, toy_config

# arguments besides in_channels (small widths)
BLOCK_ARGS = {
    'SqueezeExcitation': dict(ratio=4),
    'ChannelAttention': dict(ratio=4),
    'CBAM': dict(ratio=4),
    'MSCAM': dict(ratio=4),
    'AFF': dict(ratio=4),
    'iAFF': dict(ratio=4),
    'FeatureFusionModule': dict(out_channels=8),
}


def _registered_blocks():
    return sorted(name for name in layers.__all__
                  if inspect.isclass(getattr(layers, name))
                  and issubclass(getattr(layers, name), nn.Module)
                  and MODELS.get(name) is getattr(layers, name))


def _inputs(block, channels=8, size=(6, 10)):
    if getattr(block, 'num_inputs', 1) == 1:
        return (torch.randn(2, channels, *size), )
    if type(block).__name__ == 'FeatureFusionModule':  # in_channels is the concatenation
        return torch.randn(2, 3, *size), torch.randn(2, channels - 3, *size)
    return torch.randn(2, channels, *size), torch.randn(2, channels, *size)


def test_every_registered_block_is_listed():
    blocks = _registered_blocks()
    assert len(blocks) >= 12 and 'FullyAttentionalBlock' in blocks
    assert set(BLOCK_ARGS) <= set(blocks)


@pytest.mark.parametrize('name', _registered_blocks())
def test_block_captures_as_one_graph(name):
    torch.manual_seed(0)
    block = MODELS.build(dict(type=name, in_channels=8, **BLOCK_ARGS.get(name, {})))
    if hasattr(block, 'gamma'):  # the FLA residual weight starts at 0
        nn.init.constant_(block.gamma, 0.5)
    inputs = _inputs(block)
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True, backend='eager')
    for training in (True, False):
        block.train(training)
        with torch.set_grad_enabled(training):
            expected = block(*inputs)
            got = compiled(*inputs)
        torch.testing.assert_close(got, expected)
    torch._dynamo.reset()


# One model per structure that the blocks' own captures do not cover (the
# backbone, neck and head code of each family); a dynamo capture costs ~5 s
# of CPU per tiny model here, so the near-duplicates (the other BiSeNet
# variant, FCN, AFF-FPN next to iAFF-FPN, FLANet-R next to FLANet-HR) are left
# to the export tests, which trace the same code.
CAPTURED_FAMILIES = ('bisenet_mmseg', 'flanet_hrnet', 'pspnet_se', 'deeplabv3plus_cbam',
                     'upernet_se', 'fpn_iaff')


@pytest.mark.parametrize('family', CAPTURED_FAMILIES)
def test_family_tensor_forward_captures_as_one_graph(family):
    model = tiny_segmentor(family)
    x = torch.randn(1, 3, 64, 96)
    torch._dynamo.reset()
    compiled = torch.compile(lambda inputs: model(inputs, mode='tensor'), fullgraph=True,
                             backend='eager')
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x, mode='tensor'))
    torch._dynamo.reset()


@pytest.mark.skipif(torch_version() < (2, 2), reason=(
    f'torch {torch.__version__}: dynamo fails inside the optimizer step of a compiled '
    'train_step (InternalTorchDynamoError in torch.optim.SGD); torch >= 2.2 needed'))
def test_runner_with_compile_trains_the_demo_model(toy_cityscapes, tmp_path):
    """mmengine's ``compile=`` config option compiles train_step; the demo trains.

    The ``eager`` backend runs what dynamo captures without AOT tracing or code
    generation: ``aot_eager`` and inductor take minutes on this 2-core CPU
    (measured in docs/deployment.md).
    """
    config = toy_config(f'{REPO_ROOT}/tests/data/demo_tiny.py',
                        toy_cityscapes, tmp_path / 'work', dataset='cityscapes', max_iters=2,
                        crop_size=(64, 64), batch_size=2,
                        cfg_options=dict(compile=dict(backend='eager')))
    cfg = Config.fromfile(config)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    # a constant learning rate: a scheduler changes it every iteration, which
    # makes dynamo recompile the optimizer step each time
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    torch._dynamo.reset()
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert runner.iter == 2
    # compiled: mmengine replaced train_step by the torch.compile wrapper
    assert 'compile' in repr(runner.model.train_step).lower() or \
        hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    torch._dynamo.reset()
