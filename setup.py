"""Build hooks of mmseg_attn: the ``mmseg_attn/.mim`` folder read by OpenMMLab's mim.

The package metadata lives in setup.cfg. This file only adds what every
OpenMMLab package carries for ``mim search / train / test / run / download``:
``mmseg_attn/.mim/{configs,tools,model-index.yml}``.

- Editable installs (``pip install -e .``, PEP 660): ``.mim`` holds relative
  symbolic links to the repository's ``configs/``, ``tools/`` and
  ``model-index.yml``, so edits are seen without reinstalling (as
  mmsegmentation's own setup.py does; copies where links are not available).
- Wheels (``pip wheel .``, ``pip install .``): copies are written into the
  build directory only, so building a wheel never replaces the links of an
  editable checkout. A source distribution carries the originals
  (MANIFEST.in) and its wheel gets the copies the same way.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
PACKAGE = 'mmseg_attn'
# what mim looks for in <package>/.mim
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
# repository-only files that make no sense inside an installed package
NOT_INSTALLED = ('install.sh', )


def _ignore(folder, names):
    """``shutil.copytree`` filter: no caches, no repository-only tools."""
    skip = {'__pycache__', '.pytest_cache', '.ruff_cache'}
    return [n for n in names
            if n in skip or n.endswith(('.pyc', '.pyo')) or n in NOT_INSTALLED]


def _remove(path):
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def _copy(src, dst):
    if osp.isdir(src):
        shutil.copytree(src, dst, ignore=_ignore)
    else:
        shutil.copyfile(src, dst)


def link_mim_items(root=ROOT):
    """Point ``<root>/mmseg_attn/.mim/<item>`` at ``<root>/<item>`` (editable installs).

    Relative symbolic links, so the checkout can move; where the file system
    refuses links (Windows without developer mode) the items are copied.
    """
    mim_dir = osp.join(root, PACKAGE, '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        src, dst = osp.join(root, item), osp.join(mim_dir, item)
        if not osp.exists(src):
            raise FileNotFoundError(f'{src} is missing: the mim folder needs it')
        _remove(dst)
        try:
            os.symlink(osp.relpath(src, mim_dir), dst)
        except OSError:
            _copy(src, dst)


def copy_mim_items(package_dir, root=ROOT):
    """Copy ``<root>/<item>`` into ``<package_dir>/.mim/<item>`` (wheels)."""
    mim_dir = osp.join(package_dir, '.mim')
    _remove(mim_dir)
    os.makedirs(mim_dir)
    for item in MIM_ITEMS:
        src = osp.join(root, item)
        if not osp.exists(src):
            raise FileNotFoundError(f'{src} is missing: the mim folder needs it')
        _copy(src, osp.join(mim_dir, item))


class BuildPyWithMim(build_py):
    """``build_py`` that also provides ``mmseg_attn/.mim``."""

    def run(self):
        editable = getattr(self, 'editable_mode', False)
        if editable:
            # PEP 660 editable wheel: the package is imported from the checkout
            link_mim_items()
        else:
            # an in-tree build folder would otherwise keep modules deleted since
            _remove(osp.join(self.build_lib, PACKAGE))
        super().run()
        if not editable:
            copy_mim_items(osp.join(self.build_lib, PACKAGE))


setup(cmdclass={'build_py': BuildPyWithMim})
