"""Loading configs and small, pure rewrites of model configs.

The rewrites work on plain ``dict`` / :class:`mmengine.config.ConfigDict`
trees in place and are used by the CPU training paths (SyncBN needs CUDA), by
the toy demo and by the tests (no network, so no pretrained downloads).
"""
import copy
from typing import Any, Optional, Union

from mmengine.config import Config, DictAction
from mmengine.hub import get_config

__all__ = ['add_cfg_options', 'convert_sync_bn_cfg', 'drop_pretrained_cfg', 'load_config']


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """A config from a file, or from an installed package as ``'mmseg::path'``.

    ``'mmseg::bisenetv1/bisenetv1_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py'``
    is resolved by mmengine (:func:`mmengine.hub.get_config`) in the configs
    that mmseg ships (``mmseg/.mim/configs``), as ``_base_ = 'mmseg::...'`` is.

    Args:
        config (str | Config): A path, a ``package::path`` name, or a config
            (returned as is without ``cfg_options``, else a merged copy).
        cfg_options (dict, optional): Settings to override, as the
            ``--cfg-options key=value`` of mmseg's tools give them.
            Defaults to None.

    Returns:
        Config: The loaded config.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config) if cfg_options else config
    elif not isinstance(config, str):
        raise TypeError(f'config must be a path, a package::path name or a Config, '
                        f'got {type(config).__name__}')
    else:
        cfg = get_config(config) if '::' in config else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def add_cfg_options(parser, example: str = 'test_dataloader.dataset.data_root=DIR') -> None:
    """Give an :class:`argparse.ArgumentParser` mmseg's ``--cfg-options``
    (``key=value`` pairs, for :func:`load_config`'s ``cfg_options``)."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override settings of the config, key=value pairs as in '
                        f"mmseg's tools, e.g. {example}")


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
