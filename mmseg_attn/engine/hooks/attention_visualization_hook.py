# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention pictures of a few validation images, every N training iterations."""
import math
import os.path as osp
import random
import warnings
from numbers import Real
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from mmseg_attn.visualization import (
    analyze,
    attention_figures,
    model_meta,
    model_name,
    resolve_class_id,
)

__all__ = ['AttentionVisualizationHook']


@HOOKS.register_module()
class AttentionVisualizationHook(Hook):
    """Draw attention pictures during training and send them to the Visualizer.

    Like mmseg's :class:`~mmseg.engine.hooks.SegVisualizationHook`, but for
    attention: every ``interval`` training iterations the first
    ``num_images`` images of the validation dataset (after its test
    pipeline) go through the model, and the figures of
    :mod:`mmseg_attn.visualization` (the panel with input, prediction and
    Grad-CAM; every spatial map over the image; every channel gate as a
    sorted curve; the FLA row and column attention) are sent to
    ``runner.visualizer.add_image`` under ``attention_<image>_<figure>``,
    i.e. to every backend of the config's ``visualizer``
    (``LocalVisBackend``: ``<work_dir>/<timestamp>/vis_data/vis_image/``,
    ``TensorboardVisBackend`` where TensorBoard is installed).

    The arguments are checked when the hook is built; the Grad-CAM class
    (``class_name`` among the class names of the pictures, ``class_id``
    below their number) in :meth:`before_train`, before the first
    iteration, so that a typo does not end a long run at iteration
    ``interval``.

    Drawing does not disturb training: the model is put in eval mode (no
    batch-norm statistics are updated) and back in its mode afterwards;
    Grad-CAM takes the gradient with respect to one activation only
    (``torch.autograd.grad``), so no parameter's ``.grad`` changes; the
    Python, NumPy and torch CPU random states are restored. A wrapped
    (DDP) model is drawn through its inner module, on rank 0 only (no
    collective operation runs).

    Example:
        >>> custom_hooks = [dict(type='AttentionVisualizationHook',
        ...                      interval=2000, num_images=2)]

    Args:
        interval (int): Draw every this many training iterations.
            Defaults to 1000.
        num_images (int): How many validation images. Defaults to 2.
        class_name (str, optional): Grad-CAM class by name (case-insensitive).
            Defaults to None.
        class_id (int, optional): Grad-CAM class by id (``>= 0``). Defaults
            to None; at most one of ``class_name`` and ``class_id``; with
            neither, the most frequent predicted foreground class of each
            image.
        figures (Sequence[str]): Which figures: any of ``'panel'``,
            ``'spatial_maps'``, ``'channel_gates'``, ``'fla'``. Defaults to
            all four.
        alpha (float): Heatmap opacity in ``[0, 1]``. Defaults to 0.5.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument out of its range, an unknown figure, or both
            ``class_name`` and ``class_id``.
    """

    FIGURES = ('panel', 'spatial_maps', 'channel_gates', 'fla')

    def __init__(self,
                 interval: int = 1000,
                 num_images: int = 2,
                 class_name: Optional[str] = None,
                 class_id: Optional[int] = None,
                 figures: Sequence[str] = FIGURES,
                 alpha: float = 0.5):
        for name, value in (('interval', interval), ('num_images', num_images)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f'{name} must be a positive int, got '
                                f'{type(value).__name__} {value!r}')
            if value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if class_name is not None:
            if not isinstance(class_name, str):
                raise TypeError(f'class_name must be a str (a class of the dataset) or None, '
                                f'got {type(class_name).__name__} {class_name!r}')
            if not class_name.strip():
                raise ValueError('class_name must be a class of the dataset, got an empty '
                                 'string')
        if class_id is not None:
            if isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)):
                raise TypeError(f'class_id must be a non-negative int or None, got '
                                f'{type(class_id).__name__} {class_id!r}')
            if class_id < 0:
                raise ValueError(f'class_id must be a non-negative int, got {class_id}')
            class_id = int(class_id)
        if class_name is not None and class_id is not None:
            raise ValueError(f'give class_name or class_id, not both (got '
                             f'class_name={class_name!r}, class_id={class_id})')
        if (not isinstance(figures, (list, tuple)) or not figures
                or not all(isinstance(f, str) and f in self.FIGURES for f in figures)):
            raise ValueError(f'figures must be a list of at least one of {self.FIGURES}, '
                             f'got {figures!r}')
        if isinstance(alpha, bool) or not isinstance(alpha, Real):
            raise TypeError(f'alpha must be a number in [0, 1], got '
                            f'{type(alpha).__name__} {alpha!r}')
        if not (math.isfinite(alpha) and 0 <= alpha <= 1):
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.interval = interval
        self.num_images = num_images
        self.class_name = class_name
        self.class_id = class_id
        self.figures = tuple(figures)
        self.alpha = float(alpha)
        self._warned = False

    def before_train(self, runner) -> None:
        """Check the Grad-CAM class against the classes of the pictures.

        The classes are those :meth:`draw` uses: the validation dataset's
        ``metainfo`` where it names as many classes as the decode head has,
        else those of the model (:func:`~mmseg_attn.visualization.model_meta`).
        Without a validation dataloader nothing is drawn and nothing is
        checked (a warning says so).

        Raises:
            ValueError: ``class_name`` is not among the classes (the message
                lists them) or ``class_id`` is not below their number.
        """
        if self.class_name is None and self.class_id is None:
            return
        dataset = self._dataset(runner)
        if dataset is None:
            return
        classes = self._classes(self._model(runner), dataset)
        try:
            resolve_class_id(classes, self.class_id, self.class_name)
        except ValueError as e:
            raise ValueError(f'AttentionVisualizationHook: {e}') from e

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.draw(runner, step=runner.iter + 1)

    def _dataset(self, runner):
        try:
            return runner.val_loop.dataloader.dataset
        except (AttributeError, RuntimeError, TypeError):
            if not self._warned:
                warnings.warn('AttentionVisualizationHook draws validation images, but the '
                              'runner has no val_dataloader: nothing is drawn', stacklevel=2)
                self._warned = True
            return None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    @staticmethod
    def _meta(model, dataset) -> Optional[dict]:
        """Classes and palette of the dataset, where they fit the decode head."""
        metainfo = getattr(dataset, 'metainfo', {}) or {}
        num_classes = model.decode_head.num_classes
        if len(metainfo.get('classes') or ()) == num_classes and \
                len(metainfo.get('palette') or ()) == num_classes:
            return dict(classes=list(metainfo['classes']), palette=list(metainfo['palette']))
        return None

    def _classes(self, model, dataset) -> List[str]:
        """The class names of the pictures (those :func:`analyze` is given)."""
        return list(model_meta(model, self._meta(model, dataset))['classes'])

    def draw(self, runner, step: int) -> int:
        """Draw the pictures now (rank 0 only).

        Returns:
            int: Number of pictures sent to the visualizer (0 on other ranks).
        """
        if not is_main_process():
            return 0
        dataset = self._dataset(runner)
        if dataset is None:
            return 0
        model = self._model(runner)
        meta = self._meta(model, dataset)
        name = model_name(getattr(runner, 'cfg', None), type(model).__name__)
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        was_training = model.training
        sent = 0
        model.eval()
        try:
            for i in range(min(self.num_images, len(dataset))):
                sample = dataset[i]
                image = sample['inputs'].permute(1, 2, 0).cpu().numpy().astype(np.uint8)
                stem = osp.splitext(osp.basename(sample['data_samples'].get(
                    'img_path', f'image{i}')))[0]
                result = analyze(model, np.ascontiguousarray(image), self.class_id,
                                 self.class_name, meta=meta, name=f'{name} @ iter {step}')
                for figure in attention_figures(result, self.alpha, per_map=False,
                                                roles=self.figures):
                    runner.visualizer.add_image(f'attention_{stem}_{figure["name"]}',
                                                figure['image'], step=step)
                    sent += 1
        finally:
            model.train(was_training)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        return sent
