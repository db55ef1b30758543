# Copyright (c) mmseg_attn contributors. All rights reserved.
"""mmseg's ``MMSegInferencer`` for configs with this package's checked loaders."""
from mmengine.config import ConfigDict
from mmseg.apis import MMSegInferencer

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
    every argument is :class:`~mmseg.apis.MMSegInferencer`'s.

    Example::

        >>> from mmseg_attn.apis import SegInferencer
        >>> inferencer = SegInferencer(model=CONFIG, weights=CHECKPOINT)
        >>> result = inferencer('demo.png')  # {'predictions': (H, W) labels}
    """

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
