"""Small, pure helpers that rewrite model configs.

They work on plain ``dict`` / :class:`mmengine.config.ConfigDict` trees in
place and are used by the CPU training paths (SyncBN needs CUDA), by the toy
demo and by the tests (no network, so no pretrained downloads).
"""
from typing import Any

__all__ = ['convert_sync_bn_cfg', 'drop_pretrained_cfg']


def _walk(node: Any, fn) -> None:
    """Call ``fn`` on every mapping of a nested dict/list tree."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def convert_sync_bn_cfg(cfg: Any, norm_type: str = 'BN') -> Any:
    """Replace every ``type='SyncBN'`` entry of a config tree by ``norm_type``.

    SyncBN needs CUDA and an initialised process group; on the CPU (single
    process or gloo) plain BN is the closest working layer.

    Args:
        cfg (dict | list): A model config (or any part of a config).
        norm_type (str): The norm layer type to use instead. Defaults to 'BN'.

    Returns:
        The same object, changed in place.
    """

    def fn(node):
        if node.get('type') == 'SyncBN':
            node['type'] = norm_type

    _walk(cfg, fn)
    return cfg


def drop_pretrained_cfg(cfg: Any) -> Any:
    """Remove pretrained-weight loading from a model config tree, in place.

    Drops ``init_cfg=dict(type='Pretrained', ...)`` entries (also inside a
    list of init configs) and sets ``pretrained=...`` keys to ``None``, so the
    model builds without downloading anything.

    Args:
        cfg (dict | list): A model config (or any part of a config).

    Returns:
        The same object, changed in place.
    """

    def is_pretrained(init):
        return isinstance(init, dict) and init.get('type') == 'Pretrained'

    def fn(node):
        if 'pretrained' in node and isinstance(node['pretrained'], str):
            node['pretrained'] = None
        init = node.get('init_cfg')
        if is_pretrained(init):
            node['init_cfg'] = None
        elif isinstance(init, list):
            node['init_cfg'] = [i for i in init if not is_pretrained(i)] or None

    _walk(cfg, fn)
    return cfg
