# Copyright (c) mmseg_attn contributors. All rights reserved.
"""ResNet whose ``plugins=`` work in every block type and chain in order.

mmseg's :class:`~mmseg.models.backbones.ResNet` accepts ``plugins=`` (the
mechanism that inserts e.g. a ``CBAM`` or ``SqueezeExcitation`` block inside
each residual block), but in mmseg 1.x it has two defects:

1. ``BasicBlock.__init__`` asserts ``plugins is None`` ('Not implemented
   yet.') and ``ResNet`` hands the stage plugins to every block, so any
   ``plugins=`` on ResNet-18/34 (BiSeNet's, STDC-like light models) fails with
   an ``AssertionError`` at construction.
2. ``Bottleneck.forward_plugin`` runs ``out = plugin(x)`` for every plugin at
   one position, where ``x`` is the feature at that position. With several
   plugins at one position each one sees the same input and only the last
   one's output is kept: the earlier ones still run and hold parameters, but
   they never influence the output and get no gradient (which also breaks DDP
   without ``find_unused_parameters``).

:class:`PluginResNet` (and its ``V1c``/``V1d`` variants) fixes both by
swapping the block classes in :meth:`PluginResNet.make_res_layer`; everything
else (stem, strides, dilations, frozen stages, init) is mmseg's code, and the
parameter names are mmseg's, so a stock ResNet checkpoint loads with only the
plugin parameters missing.
"""
from typing import List, Optional, Sequence

import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.plugin import infer_abbr
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmseg.registry import MODELS
from torch import Tensor

from ..layers import build_attention

BASIC_BLOCK_POSITIONS = ('after_conv1', 'after_conv2')
BOTTLENECK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def _check_block_plugins(plugins: Optional[Sequence[dict]],
                         positions: Sequence[str], block_name: str) -> None:
    """Validate the ``plugins`` argument of a residual block.

    Args:
        plugins (Sequence[dict], optional): Plugin specs, each a dict with a
            ``cfg`` (dict with a ``type``) and a ``position``.
        positions (Sequence[str]): Positions the block supports.
        block_name (str): Name of the block class, for the error message.

    Raises:
        TypeError: If ``plugins`` or one of its entries has the wrong type.
        ValueError: If an entry lacks a key or names an unsupported position.
    """
    if plugins is None:
        return
    if not isinstance(plugins, (list, tuple)):
        raise TypeError(f'plugins must be a list of dicts or None, '
                        f'but got {type(plugins).__name__}')
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict):
            raise TypeError(f'plugins[{i}] must be a dict with keys "cfg" and '
                            f'"position", but got {type(plugin).__name__}')
        missing = {'cfg', 'position'} - set(plugin)
        if missing:
            raise ValueError(f'plugins[{i}] must have the keys "cfg" and '
                             f'"position"; missing {sorted(missing)}')
        cfg = plugin['cfg']
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ValueError(f'plugins[{i}]["cfg"] must be a dict with a '
                             f'"type", but got {cfg!r}')
        if plugin['position'] not in positions:
            raise ValueError(
                f'plugins[{i}] ({cfg["type"]}) has position '
                f'{plugin["position"]!r}, but {block_name} supports only '
                f'{", ".join(positions)}')


class _PluginMixin:
    """Building and chained application of block plugins.

    Plugins are built with :func:`~mmseg_attn.models.layers.build_attention`
    (through ``mmseg.registry.MODELS``, so mmseg's and ``mmpretrain.``-scoped
    types resolve without a default scope) and
    named like mmcv's ``build_plugin_layer`` (``_abbr_`` + ``postfix``), which
    keeps the parameter names of mmseg's ``Bottleneck`` plugins.
    """

    def make_block_plugins(self, in_channels: int,
                           plugins: List[dict]) -> List[str]:
        """Build plugins and register them as attributes of the block.

        Args:
            in_channels (int): Channels at the plugin position, passed to
                every plugin as ``in_channels``.
            plugins (list[dict]): Plugin configs (``type``, arguments and an
                optional ``postfix`` that makes the attribute name unique).

        Returns:
            list[str]: The attribute names, in the order of ``plugins``.
        """
        names = []
        for plugin in plugins:
            cfg = dict(plugin)
            postfix = cfg.pop('postfix', '')
            layer = build_attention(cfg, in_channels)
            name = infer_abbr(type(layer)) + str(postfix)
            if hasattr(self, name):
                raise ValueError(
                    f'plugin name {name!r} ({cfg["type"]}) is already used in '
                    f'{type(self).__name__}; give each plugin of the same type '
                    f'a distinct "postfix" in its cfg')
            self.add_module(name, layer)
            names.append(name)
        return names

    def forward_plugin(self, x: Tensor, plugin_names: List[str]) -> Tensor:
        """Apply the named plugins one after the other (chained)."""
        for name in plugin_names:
            x = getattr(self, name)(x)
        return x


class PluginBasicBlock(_PluginMixin, BasicBlock):
    """mmseg's ``BasicBlock`` with plugins after its first or second conv.

    The structure is ``conv1-norm1-relu-[after_conv1]-conv2-norm2-
    [after_conv2]-(+identity)-relu``: ``after_conv2`` is where SE and CBAM
    sit in the SE-ResNet and CBAM-ResNet papers (on the residual branch,
    before the addition). Both positions have ``planes`` channels.

    Args:
        plugins (list[dict], optional): Each a dict with ``cfg`` (the plugin
            config) and ``position`` (``'after_conv1'`` or
            ``'after_conv2'``). Plugins at one position run in list order.
            Defaults to None.
        **kwargs: The other arguments of mmseg's ``BasicBlock``.
    """

    def __init__(self, inplanes: int, planes: int, plugins=None, **kwargs):
        _check_block_plugins(plugins, BASIC_BLOCK_POSITIONS, 'BasicBlock')
        super().__init__(inplanes, planes, plugins=None, **kwargs)
        self.plugins = plugins
        self.with_plugins = bool(plugins)
        plugins = plugins or []
        self.after_conv1_plugin_names = self.make_block_plugins(
            planes, [p['cfg'] for p in plugins if p['position'] == 'after_conv1'])
        self.after_conv2_plugin_names = self.make_block_plugins(
            planes, [p['cfg'] for p in plugins if p['position'] == 'after_conv2'])

    def forward(self, x: Tensor) -> Tensor:
        """Forward function."""

        def _inner_forward(x):
            identity = x

            out = self.conv1(x)
            out = self.norm1(out)
            out = self.relu(out)
            out = self.forward_plugin(out, self.after_conv1_plugin_names)

            out = self.conv2(out)
            out = self.norm2(out)
            out = self.forward_plugin(out, self.after_conv2_plugin_names)

            if self.downsample is not None:
                identity = self.downsample(x)

            return out + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)

        return self.relu(out)


class PluginBottleneck(_PluginMixin, Bottleneck):
    """mmseg's ``Bottleneck`` whose plugins at one position are chained.

    Same structure, parameter names and positions (``'after_conv1'``,
    ``'after_conv2'``, ``'after_conv3'``) as mmseg's block, but several
    plugins at one position run one after the other on each other's output,
    and positions are validated with a ``ValueError``.

    Args:
        plugins (list[dict], optional): Each a dict with ``cfg`` and
            ``position``. Defaults to None.
        **kwargs: The other arguments of mmseg's ``Bottleneck``.
    """

    def __init__(self, inplanes: int, planes: int, plugins=None, **kwargs):
        _check_block_plugins(plugins, BOTTLENECK_POSITIONS, 'Bottleneck')
        super().__init__(
            inplanes, planes, plugins=list(plugins) if plugins else None, **kwargs)


@MODELS.register_module()
class PluginResNet(ResNet):
    """ResNet with plug-and-play blocks in BasicBlock and Bottleneck.

    A drop-in replacement for mmseg's ``ResNet`` (same arguments, same
    parameter names, so ImageNet checkpoints and ``init_cfg=dict(
    type='Pretrained', ...)`` still apply) whose ``plugins=`` also works for
    depth 18/34 and chains several plugins at one position in list order.
    See the module docstring for the two mmseg defects this fixes.

    Plugin positions: ``'after_conv1'`` and ``'after_conv2'`` for
    ``BasicBlock`` (depth 18, 34); ``'after_conv1'``, ``'after_conv2'`` and
    ``'after_conv3'`` for ``Bottleneck`` (depth 50, 101, 152). Each plugin is
    built with ``in_channels`` set to the channels at its position. Two
    plugins of one type in one block need distinct ``postfix`` values (the
    attribute name is the type's ``_abbr_`` plus the postfix).

    Example:
        >>> backbone = dict(
        ...     type='PluginResNetV1c',
        ...     depth=18,
        ...     plugins=[
        ...         dict(cfg=dict(type='CBAM'), position='after_conv2'),
        ...         dict(cfg=dict(type='SqueezeExcitation'),
        ...              position='after_conv2', stages=(False, False, True, True)),
        ...     ])

    Args:
        plugins (list[dict], optional): Each a dict with

            - cfg (dict, required): config of the plugin block.
            - position (str, required): where inside each block, see above.
            - stages (Sequence[bool], optional): the stages that get it, one
              flag per stage; all stages when absent.

            Defaults to None.
        **kwargs: The other arguments of mmseg's ``ResNet``.
    """

    plugin_blocks = {BasicBlock: PluginBasicBlock, Bottleneck: PluginBottleneck}
    plugin_positions = {
        BasicBlock: BASIC_BLOCK_POSITIONS,
        Bottleneck: BOTTLENECK_POSITIONS,
    }

    def __init__(self, depth: int, plugins: Optional[List[dict]] = None, **kwargs):
        if depth in self.arch_settings:
            block = self.arch_settings[depth][0]
            _check_block_plugins(plugins, self.plugin_positions[block],
                                 block.__name__ + f' (depth {depth})')
        super().__init__(depth, plugins=plugins, **kwargs)

    def make_stage_plugins(self, plugins: List[dict], stage_idx: int) -> List[dict]:
        """Select the plugins of one stage (``stages`` flags removed).

        Args:
            plugins (list[dict]): All plugin specs of the backbone.
            stage_idx (int): Index of the stage being built.

        Returns:
            list[dict]: The specs that apply to this stage, in order.
        """
        stage_plugins = []
        for i, plugin in enumerate(plugins):
            plugin = dict(plugin)
            stages = plugin.pop('stages', None)
            if stages is not None and len(stages) != self.num_stages:
                raise ValueError(
                    f'plugins[{i}]["stages"] must have one flag per stage '
                    f'({self.num_stages}), but got {tuple(stages)}')
            if stages is None or stages[stage_idx]:
                stage_plugins.append(plugin)
        return stage_plugins

    def make_res_layer(self, **kwargs):
        """Pack a stage into a ``ResLayer`` of plugin-capable blocks."""
        block = kwargs['block']
        if block not in self.plugin_blocks:
            raise TypeError(f'{type(self).__name__} has no plugin version of '
                            f'{block.__name__}')
        kwargs['block'] = self.plugin_blocks[block]
        return super().make_res_layer(**kwargs)


@MODELS.register_module()
class PluginResNetV1c(PluginResNet):
    """:class:`PluginResNet` with the deep stem of ``ResNetV1c``.

    The 7x7 stem conv is replaced by three 3x3 convs (`Bag of Tricks
    <https://arxiv.org/abs/1812.01187>`_); the parameter names match mmseg's
    ``ResNetV1c`` (e.g. ``open-mmlab://resnet50_v1c`` checkpoints).
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class PluginResNetV1d(PluginResNet):
    """:class:`PluginResNet` with the deep stem and average-pool shortcut of
    ``ResNetV1d``.

    As :class:`PluginResNetV1c`, plus a 2x2 average pool before the stride-1
    1x1 conv of each downsampling shortcut (`Bag of Tricks
    <https://arxiv.org/abs/1812.01187>`_).
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)


__all__ = [
    'PluginBasicBlock', 'PluginBottleneck', 'PluginResNet', 'PluginResNetV1c',
    'PluginResNetV1d'
]
