"""No code of the package or its tools unpickles a user's file except through
the weights_only loader of mmseg_attn.security (re-exported by mmseg_attn.compat).

The scan reads the source (AST) of ``mmseg_attn/``, ``tools/`` and
``configs/`` and fails on any new call that could run code from a file:
``torch.load`` without ``weights_only=True``, ``pickle``/``dill``/
``joblib``/``marshal``/``shelve`` loads, ``np.load(allow_pickle=True)``,
mmengine's generic ``load`` (``.pkl`` and full YAML), ``yaml.load`` without a
safe loader, and changes of torch's allow-list outside
``mmseg_attn/security/allowlist.py``. The one exception is
:func:`mmseg_attn.security.upgrade.rewrite_trusted_checkpoint`, reached only
through ``tools/model_converters/upgrade_checkpoint.py --trust``.

The behaviour of the loaders (every mmengine scheme, hostile files, config
text in checkpoints) is tested in tests/test_security/.
"""
import ast
import os
import os.path as osp
from typing import List, Set, Tuple

from tests.utils import REPO_ROOT

SCANNED = ('mmseg_attn', 'tools', 'configs')

#: (file, function) allowed to unpickle without weights_only.
TRUSTED = {('mmseg_attn/security/upgrade.py', 'rewrite_trusted_checkpoint')}
#: (file, function) that unpickle bytes their own parent process pickled (no file, no
#: user data): a child process of the package receiving its work.
INTERPROCESS = {('mmseg_attn/analysis/memory.py', '_run_in_child')}
#: The one module that may change torch's allow-list.
ALLOW_LIST_MODULE = 'mmseg_attn/security/allowlist.py'
ALLOW_LIST_CALLS = ('add_safe_globals', 'clear_safe_globals', 'safe_globals')
TRUSTED_FILE = next(iter(TRUSTED))[0]

#: Modules whose loading functions unpickle or run code from a file.
UNSAFE_MODULES = {'pickle', '_pickle', 'cPickle', 'dill', 'joblib', 'marshal', 'shelve',
                  'cloudpickle'}
UNSAFE_NAMES = {'load', 'loads', 'Unpickler', 'open', 'read_pickle'}
MMENGINE_LOADERS = {'mmengine.load', 'mmengine.fileio.load', 'fileio.load',
                    'mmengine.fileio.io.load'}
WEIGHTS_ONLY_CALLS = {'torch.load', 'torch.hub.load_state_dict_from_url',
                      'load_state_dict_from_url', 'torch.hub.load'}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f'{base}.{node.attr}' if base else ''
    return ''


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


class _Scanner(ast.NodeVisitor):

    def __init__(self, path: str):
        self.path = path
        self.aliases = {}  # local name -> dotted origin
        self.functions: List[str] = []
        self.found: List[Tuple[str, int, str]] = []

    def _flag(self, node, what):
        function = self.functions[-1] if self.functions else ''
        if (self.path, function) not in TRUSTED | INTERPROCESS:
            self.found.append((self.path, node.lineno, what))

    def visit_Import(self, node):
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split('.')[0]] = \
                alias.name if alias.asname else alias.name.split('.')[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f'{node.module}.{alias.name}'
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _resolve(self, name: str) -> str:
        head, _, rest = name.partition('.')
        origin = self.aliases.get(head, head)
        origin = {'np': 'numpy'}.get(origin, origin)
        return f'{origin}.{rest}' if rest else origin

    def visit_Call(self, node):
        name = self._resolve(_dotted(node.func))
        module, _, attr = name.rpartition('.')
        if module.split('.')[0] in UNSAFE_MODULES and attr in UNSAFE_NAMES:
            self._flag(node, f'{name}() unpickles or runs code from a file')
        elif name in WEIGHTS_ONLY_CALLS or name.endswith('.load_state_dict_from_url'):
            weights_only = _keyword(node, 'weights_only')
            if not (_is_const(weights_only, True) or _is_const(weights_only, False)):
                self._flag(node, f'{name}() without weights_only=True')
            if _keyword(node, 'pickle_module') is not None:
                self._flag(node, f'{name}() with a custom pickle_module')
        elif name == 'numpy.load':
            allow = _keyword(node, 'allow_pickle')
            if allow is not None and not _is_const(allow, False):
                self._flag(node, 'numpy.load() with allow_pickle')
        elif name in MMENGINE_LOADERS:
            self._flag(node, f'{name}() unpickles .pkl files and loads YAML with a full loader')
        elif name in ('yaml.load', 'yaml.load_all'):
            loader = _dotted(_keyword(node, 'Loader')) if _keyword(node, 'Loader') else (
                _dotted(node.args[1]) if len(node.args) > 1 else '')
            if 'Safe' not in loader:
                self._flag(node, f'{name}() without a SafeLoader')
        elif name in ('yaml.unsafe_load', 'yaml.full_load', 'yaml.unsafe_load_all'):
            self._flag(node, f'{name}() constructs arbitrary objects')
        elif name.rpartition('.')[2] in ALLOW_LIST_CALLS and self.path != ALLOW_LIST_MODULE:
            self._flag(node, f'torch allow-list changed outside {ALLOW_LIST_MODULE}')
        if _is_const(_keyword(node, 'weights_only'), False):
            self._flag(node, f'{name}() with weights_only=False')
        self.generic_visit(node)


def scan_source(source: str, path: str) -> List[Tuple[str, int, str]]:
    """Unsafe loading calls in ``source``: ``(path, line, what)``."""
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.found


def _files() -> List[str]:
    paths = []
    for top in SCANNED:
        for folder, _, names in os.walk(osp.join(REPO_ROOT, top)):
            paths += [osp.relpath(osp.join(folder, n), REPO_ROOT).replace(os.sep, '/')
                      for n in names if n.endswith('.py')]
    return sorted(paths)


def test_no_unsafe_unpickling_in_package_tools_and_configs():
    files = _files()
    assert {'mmseg_attn/compat.py', ALLOW_LIST_MODULE, TRUSTED_FILE} <= set(files)
    assert len(files) > 30
    found = []
    for path in files:
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
            found += scan_source(f.read(), path)
    assert not found, 'unsafe loading (use mmseg_attn.compat.load_checkpoint_file):\n' + \
        '\n'.join(f'{p}:{line}: {what}' for p, line, what in found)


def test_scanner_catches_each_unsafe_form():
    unsafe = {
        'import torch\ntorch.load(f)': 'without weights_only',
        'import torch\ntorch.load(f, weights_only=False)': 'weights_only=False',
        'from torch import load\nload(f, weights_only=False)': 'weights_only',
        'import torch as t\nt.load(f, map_location="cpu")': 'without weights_only',
        'import torch\ntorch.load(f, weights_only=True, pickle_module=p)': 'pickle_module',
        'import pickle\npickle.load(f)': 'unpickles',
        'import pickle as pk\npk.loads(b)': 'unpickles',
        'from pickle import loads\nloads(b)': 'unpickles',
        'import dill\ndill.load(f)': 'unpickles',
        'import joblib\njoblib.load(f)': 'unpickles',
        'import numpy as np\nnp.load(f, allow_pickle=True)': 'allow_pickle',
        'import mmengine\nmmengine.load("a.pkl")': 'unpickles .pkl',
        'from mmengine.fileio import load\nload("a.pkl")': 'unpickles .pkl',
        'import yaml\nyaml.load(f)': 'SafeLoader',
        'import yaml\nyaml.load(f, Loader=yaml.FullLoader)': 'SafeLoader',
        'import yaml\nyaml.unsafe_load(f)': 'arbitrary',
        'from torch.hub import load_state_dict_from_url\nload_state_dict_from_url(u)':
            'weights_only',
        'import torch\ntorch.serialization.add_safe_globals([X])': 'allow-list',
        'import torch\ntorch.serialization.clear_safe_globals()': 'allow-list',
        'from torch.serialization import safe_globals\nsafe_globals([X])': 'allow-list',
    }
    for source, what in unsafe.items():
        found = scan_source(source, 'tools/x.py')
        assert len(found) == 1 and what in found[0][2], (source, found)
    safe = ('import torch, numpy as np, yaml, json\n'
            'torch.load(f, map_location="cpu", weights_only=True)\n'
            'np.load(f)\nnp.load(f, allow_pickle=False)\n'
            'yaml.load(f, Loader=yaml.SafeLoader)\nyaml.safe_load(f)\njson.load(f)\n')
    assert scan_source(safe, 'tools/x.py') == []


def test_only_trusted_rewrite_unpickles_and_only_behind_trust():
    with open(osp.join(REPO_ROOT, TRUSTED_FILE), encoding='utf-8') as f:
        source = f.read()
    # the trusted rewrite is the one weights_only=False of the package...
    elsewhere = scan_source(source, 'mmseg_attn/other.py')
    assert [what for _, _, what in elsewhere] == ['torch.load() with weights_only=False']
    assert scan_source(source, TRUSTED_FILE) == []
    # ...the allow-list changes only in its module...
    with open(osp.join(REPO_ROOT, ALLOW_LIST_MODULE), encoding='utf-8') as f:
        allowlist = f.read()
    assert scan_source(allowlist, ALLOW_LIST_MODULE) == []
    assert scan_source(allowlist, 'mmseg_attn/other.py')
    # ...and the rewrite is called only by the upgrade tool, which demands --trust
    callers: Set[str] = set()
    for path in _files():
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
            text = f.read()
        if 'rewrite_trusted_checkpoint(' in text and path not in (TRUSTED_FILE, ):
            callers.add(path)
    assert callers == {'tools/model_converters/upgrade_checkpoint.py'}
    with open(osp.join(REPO_ROOT, 'tools/model_converters/upgrade_checkpoint.py')) as f:
        tool = f.read()
    assert '--trust' in tool and 'args.trust' in tool
