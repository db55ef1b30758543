"""mim on mmseg_attn: search, train, test, run and download through ``mmseg_attn/.mim``.

Every command runs ``python -m mim`` from a folder outside the checkout, so
configs and tools are found through the installed package, as a user's
``mim train mmseg_attn CONFIG`` finds them.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import yaml

import mmseg_attn
from tests.pictures import toy_image
from tests.utils import REPO_ROOT, last_checkpoint

DEMO = 'bisenet_r18_1xb4-400_toy-cityscapes-128x128.py'


def _mim(*args, cwd, check=True):
    """Run ``python -m mim ARGS`` in ``cwd``; stdout and stderr merged."""
    cmd = [sys.executable, '-m', 'mim', *map(str, args)]
    result = subprocess.run(cmd, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=600, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    if check:
        assert result.returncode == 0, f'{" ".join(cmd)}:\n{result.stdout[-6000:]}'
    return result.stdout


def _index_models():
    """Model name -> entry, for every metafile that model-index.yml imports."""
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = {}
    for path in index['Import']:
        with open(osp.join(REPO_ROOT, path)) as f:
            for model in yaml.safe_load(f).get('Models') or []:
                models[model['Name']] = model
    return models


def _config_ids(text):
    return re.findall(r'^config id: (\S+)$', text, re.M)


def test_mim_folder_of_the_installed_package():
    """``.mim`` next to the package, and where mim looks for it, holds what mim reads."""
    from mim.utils import get_installed_path
    seen_by_mim = osp.join(get_installed_path('mmseg_attn'), '.mim')
    assert osp.isfile(osp.join(seen_by_mim, 'model-index.yml')), (
        f'mim looks for {seen_by_mim}; in an editable install `make install` links '
        'site-packages/mmseg_attn to the checkout (a plain `pip install -e .` removes the link)')
    for mim_dir in (osp.join(osp.dirname(mmseg_attn.__file__), '.mim'), seen_by_mim):
        for item in ('configs/demo/' + DEMO, 'tools/train.py', 'tools/test.py',
                     'tools/analysis_tools/get_flops.py', 'model-index.yml'):
            assert osp.isfile(osp.join(mim_dir, item)), (mim_dir, item)


def test_search_lists_every_config(tmp_path):
    models = _index_models()
    assert len(models) > 10
    listed = _config_ids(_mim('search', 'mmseg_attn', cwd=tmp_path))
    assert sorted(listed) == sorted(models)

    name = 'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024'
    out = _mim('search', 'mmseg_attn', '--config', name, '--field', 'config', 'lr_schd',
               '--display-width', 200, cwd=tmp_path)
    assert _config_ids(out) == [name]
    fields = dict(re.findall(r'^(config|lr_schd)\s+(\S+)$', out, re.M))
    assert fields == {'config': models[name]['Config'],
                      'lr_schd': str(models[name]['Metadata']['Lr schd'])}


def test_download_without_published_weights(tmp_path):
    """No metafile names weights yet: mim refuses and writes nothing (README says so)."""
    models = _index_models()
    assert not any(m.get('Weights') for m in models.values())
    name = next(iter(models))
    out = _mim('download', 'mmseg_attn', '--config', name, '--dest', tmp_path / 'dl',
               cwd=tmp_path, check=False)
    assert "but got {'weight'}" in out
    assert not os.listdir(tmp_path / 'dl')


def test_train_by_name_then_test(toy_cityscapes, tmp_path):
    """The demo config, found by name in the package, trains 2 iterations and is evaluated."""
    data = [f'{split}_dataloader.dataset.data_root={toy_cityscapes}'
            for split in ('train', 'val', 'test')]
    small = ['model.data_preprocessor.size=(64,64)',
             'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
             'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
             'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
             'default_hooks.logger.interval=1']
    out = _mim('train', 'mmseg_attn', DEMO, '--work-dir', 'work', '--cfg-options', *data, *small,
               cwd=tmp_path)
    found = re.search(r'will use (\S+) instead', out)
    assert found and osp.samefile(found.group(1),
                                  osp.join(REPO_ROOT, 'configs', 'demo', DEMO))
    assert re.search(r'\.mim/tools/train\.py ', out)
    assert re.search(r'Iter\(train\) \[2/2\]', out)
    ckpt = last_checkpoint(tmp_path / 'work')
    assert osp.basename(ckpt) == 'iter_2.pth'

    # the config by path this time, the checkpoint from the run above
    config = osp.join(REPO_ROOT, 'configs', 'demo', DEMO)
    out = _mim('test', 'mmseg_attn', config, '--checkpoint', osp.join(tmp_path, ckpt),
               '--work-dir', 'test', '--cfg-options', *data, cwd=tmp_path)
    assert re.search(r'\.mim/tools/test\.py ', out)
    miou = re.search(r'Iter\(test\).*mIoU: ([\d.]+)', out)
    assert miou and 0 <= float(miou.group(1)) <= 100


def test_run_get_flops(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'bisenet',
                      'bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py')
    out = _mim('run', 'mmseg_attn', 'get_flops', config, '--shape', 64, 64, '--depth', 0,
               cwd=tmp_path)
    assert re.search(r'\.mim/tools/analysis_tools/get_flops\.py ', out)
    assert re.search(r'^FLOPs: [\d.]+[KMG]', out, re.M)
    assert re.search(r'^Params: [\d.]+M', out, re.M)


TINY = osp.join(REPO_ROOT, 'tests', 'data', 'attention_vis_bisenet_tiny.py')
#: Every tool that moved into mmseg's layout, run by ``mim run`` with real
#: arguments (mim answers -h itself): the tools that finish in seconds do
#: their work; the long-running ones stop at an option they do not know,
#: which only the tool's own parser can say.
MOVED_TOOLS = {
    'analysis_tools/benchmark': (
        ['benchmark', TINY, '--shape', 32, 32, '--num-iters', 1, '--num-warmup', 0,
         '--device', 'cpu', '--work-dir', 'bench'], 'Overall fps'),
    'analysis_tools/visualize_attention': (
        ['visualize_attention', 'IMAGE', TINY, '--shape', 32, 32, '--out-dir', 'vis'],
        'attention maps, a panel and a Grad-CAM written to vis'),
    'analysis_tools/check_dataset': (
        ['check_dataset', osp.join(REPO_ROOT, 'configs', 'demo', DEMO), '--cfg-options',
         'train_dataloader.dataset.data_root=DATA'], 'samples checked'),
    'misc/make_toy_dataset': (
        ['make_toy_dataset', 'voc', '--out', 'voc', '--num-train', 1, '--num-val', 1,
         '--size', 32, 32], 'voc'),
    'misc/gen_model_zoo': (['gen_model_zoo', '--check', '--root', REPO_ROOT], 'up to date'),
    'misc/demo': (['demo', '--no-such-option'], 'unrecognized arguments: --no-such-option'),
    'misc/make_gallery': (['make_gallery', '--no-such-option'],
                          'unrecognized arguments: --no-such-option'),
}


@pytest.mark.parametrize('tool', list(MOVED_TOOLS))
def test_run_every_moved_tool(tool, toy_cityscapes, tmp_path):
    args, expected = MOVED_TOOLS[tool]
    image = toy_image(toy_cityscapes)
    args = [str(a).replace('IMAGE', image).replace('DATA', toy_cityscapes) for a in args]
    out = _mim('run', 'mmseg_attn', *args, cwd=tmp_path, check='no-such' not in args[-1])
    assert re.search(rf'\.mim/tools/{tool}\.py ', out), out[-3000:]
    assert expected in out, out[-3000:]
