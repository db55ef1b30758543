"""``pip wheel .``: the wheel carries ``mmseg_attn/.mim`` (configs, tools, model index)."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

import mmseg_attn
from tests.utils import REPO_ROOT

# what setup.py needs to build, and what it copies into .mim
SOURCES = ('setup.py', 'setup.cfg', 'pyproject.toml', 'MANIFEST.in', 'README.md',
           'model-index.yml', 'requirements', 'configs', 'tools', 'mmseg_attn')


def _skip_caches(folder, names):
    return [n for n in names
            if n in ('__pycache__', '.mim', 'build') or n.endswith(('.pyc', '.egg-info'))]


def _tree(root):
    """Relative paths of the files under ``root``, caches left out."""
    files = set()
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        files.update(osp.relpath(osp.join(folder, n), root)
                     for n in names if not n.endswith('.pyc'))
    return files


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """A wheel built from a copy of the checkout (its links and build folder untouched)."""
    src = tmp_path_factory.mktemp('src')
    for name in SOURCES:
        path = osp.join(REPO_ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name, ignore=_skip_caches)
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp('dist')
    cmd = [sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps', '--no-build-isolation',
           '--no-index', '-q', '-w', str(dist)]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-6000:]
    wheels = glob.glob(str(dist / '*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_the_mim_folder(wheel):
    assert osp.basename(wheel) == f'mmseg_attn-{mmseg_attn.__version__}-py3-none-any.whl'
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        mim = {n[len('mmseg_attn/.mim/'):] for n in names if n.startswith('mmseg_attn/.mim/')}
        expected = {'model-index.yml'}
        expected |= {osp.join('configs', p) for p in _tree(osp.join(REPO_ROOT, 'configs'))}
        expected |= {osp.join('tools', p) for p in _tree(osp.join(REPO_ROOT, 'tools'))
                     if p != 'misc/install.sh'}  # builds a repository's .venv: not installed
        assert mim == expected
        for item in ('model-index.yml', 'configs/bisenet/metafile.yaml', 'tools/train.py',
                     'tools/model_converters/upgrade_checkpoint.py'):
            with open(osp.join(REPO_ROOT, item), 'rb') as f:
                assert zf.read('mmseg_attn/.mim/' + item) == f.read(), item
        # the package itself, and nothing of the checkout outside it
        assert 'mmseg_attn/__init__.py' in names
        assert not [n for n in names if n.split('/')[0] not in (
            'mmseg_attn', f'mmseg_attn-{mmseg_attn.__version__}.dist-info')]


def test_wheel_alone_runs_mim(wheel, tmp_path):
    """An environment with the wheel and no checkout: mim finds tools and configs in it.

    The environment reuses this interpreter's packages (mmcv takes minutes to
    compile) through a ``.pth`` path line; ``.pth`` files of that folder, such
    as an editable install's import hook, are not run from a path line, and the
    new environment's own site-packages, where the wheel goes, comes first.
    """
    env_dir = tmp_path / 'env'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(env_dir)], check=True)
    python = str(env_dir / 'bin' / 'python')
    get_purelib = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    purelib = subprocess.check_output([python, '-c', get_purelib], text=True).strip()
    ours = subprocess.check_output([sys.executable, '-c', get_purelib], text=True).strip()
    with open(osp.join(purelib, 'reused_packages.pth'), 'w') as f:
        f.write(ours + '\n')
    subprocess.run([python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
                    '--ignore-installed', wheel], check=True)
    cwd = tmp_path / 'run'
    cwd.mkdir()
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)

    def mim(*args):
        result = subprocess.run([python, '-m', 'mim', *map(str, args)], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout

    installed = osp.join(purelib, 'mmseg_attn', '.mim')
    out = mim('run', 'mmseg_attn', 'make_toy_dataset', 'cityscapes', '--out', 'toy',
              '--num-train', 2, '--num-val', 1, '--size', 64, 64)
    assert osp.join(installed, 'tools', 'misc', 'make_toy_dataset.py') in out
    assert osp.isfile(cwd / 'toy' / 'toy_dataset.json')

    root = cwd / 'toy'
    out = mim('train', 'mmseg_attn', 'bisenet_r18_1xb4-400_toy-cityscapes-128x128.py',
              '--work-dir', 'work', '--cfg-options',
              *[f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')],
              'model.data_preprocessor.size=(64,64)',
              'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
              'train_dataloader.batch_size=2', 'train_cfg.max_iters=1', 'train_cfg.val_interval=2')
    assert f'will use {installed}/configs/demo/' in out
    assert f'{installed}/tools/train.py' in out
    assert 'Iter(train) [1/1]' in out
    assert osp.isfile(cwd / 'work' / 'iter_1.pth')
