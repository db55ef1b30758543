# Copyright (c) mmseg_attn contributors. All rights reserved.
"""mmseg's ``MMSegInferencer`` for configs with this package's checked loaders,
loading weights strictly and reading images checked."""
import os.path as osp
from typing import Optional

import torch.nn as nn
from mmengine.config import ConfigDict
from mmseg.apis import MMSegInferencer

from mmseg_attn.utils.image import MAX_IMAGE_PIXELS, load_image

from .checkpoint import CheckpointMismatchError, compare_state_dict, mismatch_message

__all__ = ['SegInferencer']

#: this package's loaders -> the stock transform ``MMSegInferencer`` looks for by name
_STOCK_LOADERS = {
    'LoadCheckedImageFromFile': 'LoadImageFromFile',
    'LoadCheckedAnnotations': 'LoadAnnotations',
}


class SegInferencer(MMSegInferencer):
    """:class:`mmseg.apis.MMSegInferencer` that also takes this package's configs.

    mmseg's inferencer finds the image loader of the test pipeline by the
    name ``LoadImageFromFile`` (and drops ``LoadAnnotations`` by name): with
    the configs of this package, whose pipelines use
    :class:`~mmseg_attn.datasets.LoadCheckedImageFromFile` and
    :class:`~mmseg_attn.datasets.LoadCheckedAnnotations`, it raises
    ``LoadImageFromFile is not found in the test pipeline``. This subclass
    reads those two as the stock loaders (the inferencer replaces the image
    loader and drops the label loader anyway) and is otherwise mmseg's;
    every argument is :class:`~mmseg.apis.MMSegInferencer`'s, plus
    ``max_pixels``.

    Two checks mmseg's inferencer does not make: ``weights`` of another
    model are refused with :class:`~.checkpoint.CheckpointMismatchError`
    naming the keys (mmseg's loads them with ``strict=False``), and every
    image path is read with :func:`mmseg_attn.utils.image.load_image`'s checks
    first (a missing, empty, text, truncated or too large image gets an error
    naming the file, not an ``assert`` deep in the pipeline, which
    ``python -O`` removes).

    Example::

        >>> from mmseg_attn.apis import SegInferencer
        >>> inferencer = SegInferencer(model=CONFIG, weights=CHECKPOINT)
        >>> result = inferencer('demo.png')  # {'predictions': (H, W) labels}
    """

    def __init__(self, *args, max_pixels: Optional[int] = MAX_IMAGE_PIXELS, **kwargs):
        self.max_pixels = max_pixels
        weights = kwargs.get('weights', args[1] if len(args) > 1 else None)
        self._weights_name = weights if isinstance(weights, str) else 'the weights'
        super().__init__(*args, **kwargs)

    def _load_weights_to_model(self, model: nn.Module, checkpoint: Optional[dict], cfg) -> None:
        if checkpoint is not None:
            diff = compare_state_dict(model, checkpoint)
            if diff:
                raise CheckpointMismatchError(mismatch_message(diff, self._weights_name, model))
        super()._load_weights_to_model(model, checkpoint, cfg)

    def _inputs_to_list(self, inputs) -> list:
        inputs = super()._inputs_to_list(inputs)
        for item in inputs:
            if isinstance(item, str) and '://' not in item:
                load_image(osp.expanduser(item), max_pixels=self.max_pixels)
        return inputs

    def _init_pipeline(self, cfg: ConfigDict):
        pipeline = cfg.test_dataloader.dataset.pipeline
        for i, transform in enumerate(pipeline):
            stock = _STOCK_LOADERS.get(transform.get('type'))
            if stock == 'LoadImageFromFile':
                kwargs = {k: v for k, v in transform.items() if k not in ('type', 'on_error')}
                pipeline[i] = ConfigDict(type=stock, **kwargs)
            elif stock is not None:
                pipeline[i] = ConfigDict(type=stock)
        return super()._init_pipeline(cfg)
