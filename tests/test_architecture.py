"""The package's layering, as docs/architecture.md states it: every import of
mmseg_attn (module level and inside functions) points to a room on a lower
floor, and no module imports itself back through others."""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

from tests.utils import REPO_ROOT

PACKAGE = osp.join(REPO_ROOT, 'mmseg_attn')

#: The floors of docs/architecture.md, top first; a room imports only from
#: rooms on lower floors (rooms on one floor do not import each other).
FLOORS: List[Set[str]] = [
    {''},  # mmseg_attn/__init__.py: imports what registers
    {'engine'},
    {'visualization'},
    {'deployment'},
    {'apis'},
    {'analysis'},
    {'testing'},
    {'datasets'},
    {'models'},  # models/__init__.py
    {'models/backbones', 'models/necks', 'models/decode_heads', 'models/utils'},
    {'models/layers'},
    {'compat'},
    {'security'},
    {'utils', 'version'},
]
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}


def _modules() -> Dict[str, str]:
    """Dotted name -> file of every module of the package."""
    found = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if not d.startswith(('.', '__'))]
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                dotted = osp.relpath(path, REPO_ROOT)[:-3].replace(os.sep, '.')
                found[dotted.removesuffix('.__init__')] = path
    return found


MODULES = _modules()


def room(module: str) -> str:
    parts = module.split('.')[1:]
    if parts[:1] == ['models'] and len(parts) > 1:
        return '/'.join(parts[:2])
    return parts[0] if parts else ''


def imports(module: str, source: str = None) -> Set[Tuple[str, int]]:
    """``(imported module of the package, line)`` of every import in ``module``
    (its file, or ``source`` as if it were its text)."""
    path = MODULES[module]
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    if source is None:
        with open(path, encoding='utf-8') as f:
            source = f.read()
    tree = ast.parse(source, path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(parent + ([base] if base else []))
            # `from X import name`: the submodule X.name where it is one, else X
            targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES and target.startswith('mmseg_attn'):
                target = target.rpartition('.')[0]  # `import mmseg_attn.x.y` of a name
            if target in MODULES and target != module:
                found.add((target, node.lineno))
    return found


GRAPH = {module: imports(module) for module in MODULES}


def test_every_room_has_a_floor():
    assert {room(m) for m in MODULES} <= set(FLOOR), \
        f'rooms without a floor: {sorted({room(m) for m in MODULES} - set(FLOOR))}'


def test_no_import_points_upward_or_sideways():
    wrong = []
    for module, targets in GRAPH.items():
        for target, line in sorted(targets):
            a, b = room(module), room(target)
            if a != b and FLOOR[b] <= FLOOR[a]:
                wrong.append(f'{MODULES[module][len(REPO_ROOT) + 1:]}:{line} imports {target} '
                             f'({a or "mmseg_attn"} -> {b})')
    assert not wrong, 'imports against the layering of docs/architecture.md:\n' + \
        '\n'.join(wrong)


def test_no_import_cycle():
    """No module imports itself back through others (a package's __init__ that
    imports its own modules is not a cycle: those name their siblings)."""
    state, stack, cycles = {}, [], []

    def visit(module):
        state[module] = 'open'
        stack.append(module)
        for target, _ in sorted(GRAPH[module]):
            if state.get(target) == 'open':
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 'done'

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, 'import cycles:\n' + '\n'.join(' -> '.join(c) for c in cycles)


def test_the_analysis_sees_every_form_of_import():
    """A put-off import counts too (the cycle of the past hid in one), and so do
    relative, dotted and from-package imports."""
    source = ('import os\n'
              'from ..engine.hooks import SyncNormBuffersHook\n'
              'def f():\n'
              '    from mmseg_attn.visualization import analyze\n'
              '    import mmseg_attn.utils.torch_compat\n'
              '    from . import inference\n')
    found = imports('mmseg_attn.apis.cpu_dist', source)
    assert found == {('mmseg_attn.engine.hooks', 2), ('mmseg_attn.visualization', 4),
                     ('mmseg_attn.utils.torch_compat', 5), ('mmseg_attn.apis.inference', 6)}
    assert room('mmseg_attn.engine.hooks.rng_state_hook') == 'engine'
    assert room('mmseg_attn.models.layers.cbam') == 'models/layers'
    assert room('mmseg_attn') == ''


ROOMS = sorted(r.replace('/', '.') for r in FLOOR if r and '/' not in r)


@pytest.mark.parametrize('name', ROOMS)
def test_each_room_imports_first_in_a_fresh_interpreter(name):
    result = subprocess.run([sys.executable, '-c', f'import mmseg_attn.{name}'], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
