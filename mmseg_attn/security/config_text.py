"""Config text stored in a checkpoint, read as data and never executed.

mmengine writes the training config into every checkpoint as Python text
(``meta['cfg']``, ``message_hub['runtime_info']['cfg']``), and its inferencer
(``MMSegInferencer(model=None, weights=CKPT)``) runs that text through
``Config.fromstring`` when no config is given: a checkpoint could carry code
that runs there. :func:`read_config_text` reads the text with :mod:`ast`
instead and accepts only what a dumped config consists of:

- assignments ``name = value`` at the top level (and string expressions);
- values: strings, bytes, numbers, booleans, None (also ``-1``), lists,
  tuples, ``{...}`` dicts, ``dict(key=value, ...)``, and names assigned
  earlier in the text.

Nothing callable is called, nothing imported, no other file read
(``_base_``). :func:`safe_config_text` turns such a text into an
equivalent text of literals only, which mmengine can read without running
anything of the checkpoint; any other text becomes a one-line statement that
raises a :class:`ValueError` telling the user to pass the config file.
"""
import ast
import keyword
import math
import sys
from typing import Any, Dict, List

__all__ = ['ConfigTextError', 'read_config_text', 'render_config', 'safe_config_text']

#: Longest config text read from a checkpoint (dumped configs are ~10-50 kB).
MAX_TEXT_CHARS = 2_000_000
#: Most values (container items included) that a text may produce.
MAX_VALUES = 100_000
#: Deepest nesting of containers.
MAX_DEPTH = 50


class ConfigTextError(ValueError):
    """A config text holds something other than plain data."""


def _where(node: ast.AST) -> str:
    return f'line {getattr(node, "lineno", "?")}'


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        try:
            return f'a call to {ast.unparse(node.func)!r}'
        except Exception:  # pragma: no cover - unparse of odd nodes
            return 'a call'
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return 'an import'
    if isinstance(node, ast.Attribute):
        return f'an attribute access {ast.unparse(node)!r}'
    return f'{type(node).__name__} syntax'


class _Reader:

    def __init__(self):
        self.names: Dict[str, Any] = {}
        self.count = 0

    def _count(self, n: int = 1):
        self.count += n
        if self.count > MAX_VALUES:
            raise ConfigTextError(f'the text builds more than {MAX_VALUES} values')

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ConfigTextError(f'{_where(node)}: values nested deeper than {MAX_DEPTH}')
        self._count()
        if isinstance(node, ast.Constant):
            if type(node.value) not in (str, bytes, int, float, bool, type(None)):
                raise ConfigTextError(f'{_where(node)}: a {type(node.value).__name__} constant')
            return node.value
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
                and isinstance(node.operand, ast.Constant)
                and type(node.operand.value) in (int, float)):
            return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item, depth + 1) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            result = {}
            for key, value in zip(node.keys, node.values):
                if key is None:
                    raise ConfigTextError(f'{_where(node)}: a ** in a dict')
                key = self.value(key, depth + 1)
                try:
                    result[key] = self.value(value, depth + 1)
                except TypeError:
                    raise ConfigTextError(f'{_where(node)}: an unhashable dict key') from None
            return result
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == 'dict' and not node.args
                and all(kw.arg is not None for kw in node.keywords)):
            return {kw.arg: self.value(kw.value, depth + 1) for kw in node.keywords}
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise ConfigTextError(f'{_where(node)}: the name {node.id!r}, which is not '
                                      'assigned before')
            return self.copy(self.names[node.id], depth)
        raise ConfigTextError(f'{_where(node)}: {_describe(node)}')

    def copy(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ConfigTextError(f'values nested deeper than {MAX_DEPTH}')
        self._count()
        if isinstance(value, dict):
            return {k: self.copy(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [self.copy(v, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return value


def read_config_text(text: str) -> Dict[str, Any]:
    """Read a config text as data, without executing anything.

    Args:
        text (str): Python config text (as mmengine dumps it).

    Returns:
        dict: The top-level names and their values.

    Raises:
        ConfigTextError: The text holds anything but the assignments of plain
            data described in this module (the message says what and where).
    """
    if not isinstance(text, str):
        raise ConfigTextError(f'expected text, got {type(text).__name__}')
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigTextError(f'the text is longer than {MAX_TEXT_CHARS} characters')
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise ConfigTextError(f'it is not valid Python syntax ({type(e).__name__}: {e})') \
            from None
    reader = _Reader()
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
                and isinstance(statement.value.value, str):
            continue  # a docstring or string "comment"
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            what = statement.value if isinstance(statement, ast.Expr) else statement
            raise ConfigTextError(f'{_where(statement)}: {_describe(what)}')
        name = statement.targets[0].id
        if name.startswith('__') or name in ('_base_', 'dict'):
            raise ConfigTextError(f'{_where(statement)}: an assignment to {name!r}')
        try:
            reader.names[name] = reader.value(statement.value)
        except RecursionError:
            raise ConfigTextError(f'{_where(statement)}: values nested too deeply') from None
    return reader.names


def _literal(value: Any, indent: int) -> str:
    if isinstance(value, (str, bytes)):
        # mmengine substitutes {{ ... }} patterns in config text, even inside
        # strings: spell braces as escapes so that no such pattern can appear
        return repr(value).replace('{', '\\x7b').replace('}', '\\x7d')
    if isinstance(value, float) and math.isinf(value):
        return '1e999' if value > 0 else '-1e999'  # literals that read as +-inf
    if isinstance(value, float) and math.isnan(value):
        raise TypeError('NaN has no config literal')
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k)
               for k in value):
            items = [f'{k}={_literal(v, indent + 4)}' for k, v in value.items()]
            return _join('dict(', items, ')', indent)
        items = [f'{_literal(k, indent + 4)}: {_literal(v, indent + 4)}'
                 for k, v in value.items()]
        return _join('{', items, '}', indent)
    if isinstance(value, list):
        return _join('[', [_literal(v, indent + 4) for v in value], ']', indent)
    if isinstance(value, tuple):
        items = [_literal(v, indent + 4) for v in value]
        return _join('(', items, ',)' if len(items) == 1 else ')', indent)
    raise TypeError(f'cannot render a {type(value).__name__} as a config literal')


def _join(opening: str, items: List[str], closing: str, indent: int) -> str:
    flat = opening + ', '.join(items) + closing
    if len(flat) + indent <= 90 and '\n' not in flat:
        return flat
    pad = ' ' * (indent + 4)
    return opening + '\n' + ''.join(f'{pad}{item},\n' for item in items) + ' ' * indent \
        + closing.lstrip(',')


def render_config(data: Dict[str, Any]) -> str:
    """Config text of literals only for ``data`` (as :func:`read_config_text` returns)."""
    return ''.join(f'{name} = {_literal(value, 0)}\n' for name, value in data.items())


def safe_config_text(text: str, checkpoint: str, where: str) -> str:
    """The config text of a checkpoint in a form that runs nothing.

    Plain data (see :func:`read_config_text`) is rendered back as literals.
    A ``custom_imports`` entry is kept when every module it names is imported
    already (mmengine then imports nothing new). Anything else becomes
    ``raise ValueError(...)``: mmengine's inferencer stops there with a
    message naming the checkpoint and asking for the config file.

    Args:
        text (str): The config text found in the checkpoint.
        checkpoint (str): The checkpoint's name, for the message.
        where (str): Where in the checkpoint the text is, for the message.
    """
    try:
        data = read_config_text(text)
        imports = data.get('custom_imports')
        if imports is not None:
            modules = imports.get('imports') if isinstance(imports, dict) else None
            modules = [modules] if isinstance(modules, str) else modules
            if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
                raise ConfigTextError(f'custom_imports {imports!r:.80} is not a list of modules')
            new = [m for m in modules if m not in sys.modules]
            if new:
                raise ConfigTextError(
                    f'custom_imports names modules that are not imported yet ({new}); '
                    'importing modules named by a checkpoint would run their code')
        return render_config(data)
    except ConfigTextError as e:
        reason = str(e)
    message = (f'The config stored in the checkpoint {checkpoint!r} ({where}) is not plain '
               f'data ({reason}), and mmseg_attn never executes config text from a checkpoint. '
               'Pass the config file instead, e.g. MMSegInferencer(model=CONFIG_FILE, '
               f'weights={checkpoint!r}).')
    return f'raise ValueError({message!r})\n'.replace('{', '\\x7b').replace('}', '\\x7d')
