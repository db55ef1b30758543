# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention pictures of a few validation images, every N training iterations."""
import os.path as osp
import random
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from mmseg_attn.visualization import analyze, attention_figures, model_name

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
        class_name (str, optional): Grad-CAM class by name. Defaults to None.
        class_id (int, optional): Grad-CAM class by id. Defaults to None; with
            neither, the most frequent predicted foreground class of each
            image.
        figures (Sequence[str]): Which figures: any of ``'panel'``,
            ``'spatial_maps'``, ``'channel_gates'``, ``'fla'``. Defaults to
            all four.
        alpha (float): Heatmap opacity. Defaults to 0.5.
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
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if class_name is not None and class_id is not None:
            raise ValueError('give class_name or class_id, not both')
        unknown = sorted(set(figures) - set(self.FIGURES))
        if unknown or isinstance(figures, str):
            raise ValueError(f'figures must be a list of {self.FIGURES}, got {figures!r}')
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.interval = interval
        self.num_images = num_images
        self.class_name = class_name
        self.class_id = class_id
        self.figures = tuple(figures)
        self.alpha = alpha
        self._warned = False

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
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        metainfo = getattr(dataset, 'metainfo', {}) or {}
        meta = None
        num_classes = model.decode_head.num_classes
        if len(metainfo.get('classes') or ()) == num_classes and \
                len(metainfo.get('palette') or ()) == num_classes:
            meta = dict(classes=list(metainfo['classes']), palette=list(metainfo['palette']))
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
