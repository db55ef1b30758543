"""One version: mmseg_attn/version.py, read by setup.cfg and repeated by the metafiles."""
import configparser
import glob
import os.path as osp

import yaml
from packaging.version import Version

import mmseg_attn
from mmseg_attn import version
from tests.utils import REPO_ROOT


def test_setup_cfg_reads_version_py():
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(REPO_ROOT, 'setup.cfg'))
    assert cfg['metadata']['version'] == 'attr: mmseg_attn.version.__version__'
    assert mmseg_attn.__version__ == version.__version__
    assert str(Version(version.__version__)) == version.__version__  # PEP 440, normalised


def test_metafiles_name_the_package_version():
    """Each collection whose code is in this package names the version of that code."""
    seen = 0
    for path in sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'metafile.yaml'))):
        with open(path) as f:
            meta = yaml.safe_load(f)
        for coll in meta.get('Collections') or []:
            code = coll.get('Code') or {}
            if str(code.get('URL', '')).startswith('mmseg_attn/'):
                assert code.get('Version') == f'v{mmseg_attn.__version__}', (path, coll['Name'])
                assert osp.isfile(osp.join(REPO_ROOT, code['URL'])), (path, code['URL'])
                seen += 1
            else:  # code elsewhere (e.g. the paper's): no version of ours
                assert 'Version' not in code, (path, coll['Name'])
    assert seen >= 4
