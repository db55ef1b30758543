"""Config text stored in a checkpoint is read as data and never executed,
also by mmseg's inferencer (MMSegInferencer(model=None, weights=CKPT))."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import ConfigTextError, read_config_text, safe_config_text
from mmseg_attn.security.config_text import render_config
from tests.test_security.helpers import code_payload, runner_like_checkpoint
from tests.utils import REPO_ROOT

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs/demo/bisenet_r18_1xb4-400_toy-cityscapes-128x128.py')


def test_reader_accepts_what_a_dumped_config_holds():
    text = '''"""a docstring"""
norm_cfg = dict(type='SyncBN', requires_grad=True)
crop_size = (512, 1024)
model = dict(
    type='EncoderDecoder',
    backbone=dict(norm_cfg=norm_cfg, depth=-18, scale=1e-4, dilations=[1, 1, 2, 4]),
    data_preprocessor={'size': crop_size, 1: None, 'flag': True},
    name=b'raw', huge=1e999)
'''
    data = read_config_text(text)
    assert data['model']['backbone']['norm_cfg'] == dict(type='SyncBN', requires_grad=True)
    assert data['model']['backbone']['norm_cfg'] is not data['norm_cfg']  # a copy
    assert data['model']['data_preprocessor'] == {'size': (512, 1024), 1: None, 'flag': True}
    assert data['model']['backbone']['depth'] == -18
    # the rendering reads back to the same data, in mmengine too
    rendered = render_config(data)
    assert read_config_text(rendered) == data
    cfg = Config.fromstring(rendered, '.py')
    assert cfg.model.backbone.dilations == [1, 1, 2, 4] and cfg.crop_size == (512, 1024)
    assert cfg.model.huge == float('inf')


REFUSED = {
    'import os\nx = 1': 'an import',
    "x = __import__('os').system('id')": "a call to \"__import__('os').system\"",
    "x = open('/etc/passwd').read()": 'a call to',
    'x = (lambda: 1)': 'Lambda',
    'x = [i for i in range(10**9)]': 'ListComp',
    "x = 'a' * 10**9": 'BinOp',
    'x = os.environ': 'an attribute access',
    "x = f'{y}'": 'JoinedStr',
    'x = y': "the name 'y', which is not assigned before",
    "_base_ = ['../other.py']": "an assignment to '_base_'",
    'dict = print\nx = dict(a=1)': "an assignment to 'dict'",
    'x = dict(**y)': "a call to 'dict'",
    'x = {**y}': 'a ** in a dict',
    'x = {[1]: 2}': 'unhashable',
    'x = {1, 2}': 'Set',
    'x = ...': 'a ellipsis constant',
    'if True:\n    x = 1': 'If',
    'x, y = 1, 2': 'Assign',
    'x = 1 +': 'not valid Python syntax',
}


@pytest.mark.parametrize('text', list(REFUSED))
def test_reader_refuses_everything_else(text):
    with pytest.raises(ConfigTextError, match=re.escape(REFUSED[text])):
        read_config_text(text)


def test_reader_bounds_what_names_can_build():
    lines = ['a0 = [0, 0, 0, 0]'] + [f'a{i} = [a{i - 1}, a{i - 1}, a{i - 1}, a{i - 1}]'
                                     for i in range(1, 30)]
    with pytest.raises(ConfigTextError, match='more than 100000 values'):
        read_config_text('\n'.join(lines))
    with pytest.raises(ConfigTextError, match='nested deeper'):
        read_config_text('x = ' + '[' * 60 + ']' * 60)


def test_mmengine_substitutions_cannot_turn_strings_into_code(tmp_path, monkeypatch):
    """mmengine replaces {{$VAR:default}} even inside strings of config text;
    the rendering spells braces as escapes, so values stay values."""
    marker = tmp_path / 'pwned'
    value = "{{$NOT_SET:'+open('" + str(marker) + "','w').close()+'}}"
    text = safe_config_text(f'x = {value!r}\ny = "{{{{ fileDirname }}}}"\n', 'c.pth', 'here')
    cfg = Config.fromstring(text, '.py')
    assert cfg.x == value and cfg.y == '{{ fileDirname }}'
    assert not marker.exists()


def test_custom_imports_only_of_modules_imported_already():
    kept = safe_config_text("custom_imports = dict(imports=['mmseg_attn'])\n", 'c.pth', 'cfg')
    assert read_config_text(kept)['custom_imports']['imports'] == ['mmseg_attn']
    refused = safe_config_text("custom_imports = dict(imports=['not_imported_module'])\n",
                               'c.pth', 'cfg')
    assert refused.startswith('raise ValueError(')
    assert 'not_imported_module' in refused and 'would run their code' in refused


def _checkpoint_with_cfg(tmp_path, text, where, name='ckpt.pth'):
    ckpt = runner_like_checkpoint()
    if where == 'meta':
        ckpt['meta']['cfg'] = text
    else:
        ckpt['message_hub']['runtime_info']['cfg'] = text
    path = str(tmp_path / name)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize('where', ['meta', 'message_hub'])
def test_inferencer_never_executes_config_text_of_a_checkpoint(tmp_path, where):
    from mmseg.apis import MMSegInferencer
    marker = tmp_path / 'pwned'
    path = _checkpoint_with_cfg(tmp_path, code_payload(marker), where)
    with pytest.raises(ValueError) as info:
        MMSegInferencer(model=None, weights=path, device='cpu')
    message = str(info.value)
    assert path in message and 'is not plain data' in message
    assert "line 2: a call to \"__import__('os').system\"" in message
    assert 'MMSegInferencer(model=CONFIG_FILE' in message
    assert not marker.exists()
    # the checkpoint itself loads: the text is only refused where it would run
    loaded = CheckpointLoader.load_checkpoint(path)
    assert loaded['meta']['iter'] == 3


def test_inferencer_builds_the_model_from_plain_config_data(tmp_path):
    """A config dumped by mmengine (pretty_text) is plain data: the inferencer
    builds the model from it as before."""
    from mmseg.registry import MODELS

    # mmseg's MMSegInferencer with this package's checked loaders (the demo's)
    from mmseg_attn.apis import SegInferencer as MMSegInferencer
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    ckpt = dict(meta=dict(cfg=cfg.pretty_text, dataset_meta=dict(classes=('a', 'b'),
                                                                   palette=[[0, 0, 0]] * 2)),
                state_dict=model.state_dict())
    path = str(tmp_path / 'demo.pth')
    torch.save(ckpt, path)
    inferencer = MMSegInferencer(model=None, weights=path, device='cpu')
    assert type(inferencer.model).__name__ == type(model).__name__
    for key, value in model.state_dict().items():
        assert torch.equal(inferencer.model.state_dict()[key], value), key
    assert inferencer.cfg.model.backbone.type == cfg.model.backbone.type
