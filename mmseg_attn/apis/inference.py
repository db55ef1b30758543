# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Build a segmentor from a config (and checkpoint) for inference, and random inputs.

:func:`build_segmentor` is this package's ``mmseg.apis.init_model``: every
tool that builds or loads a model (benchmarks, FLOPs, export, pictures)
goes through it.
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_attn.utils import convert_sync_bn_cfg, dataset_meta, drop_pretrained_cfg, load_config

from .checkpoint import load_weights

__all__ = ['build_segmentor', 'random_batch']


def build_segmentor(config: Union[str, Config],
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    cfg_options: Optional[dict] = None,
                    keep_auxiliary: bool = False) -> nn.Module:
    """Build the segmentor of a config for inference or analysis.

    SyncBN becomes BN and ``Pretrained`` inits are dropped (nothing is
    downloaded); the weights come from ``checkpoint`` when given (loaded
    strictly by :func:`~.checkpoint.load_weights`: a checkpoint of another
    model is refused, naming its keys), else they keep
    PyTorch's default initialisation (``init_weights`` is not called, as in
    mmseg's analysis tools). The auxiliary heads are removed unless
    ``keep_auxiliary`` (they do not run at inference). As mmseg's
    ``init_model``, ``model.dataset_meta`` (classes, palette) comes from the
    checkpoint's meta, else from the config
    (:func:`~mmseg_attn.utils.dataset_meta.dataset_meta`).

    Args:
        config (str | Config): Config file, ``package::path`` name (see
            :func:`~mmseg_attn.utils.load_config`) or config object.
        checkpoint (str, optional): Checkpoint to load. Defaults to None.
        device (str): Device of the model. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.
        keep_auxiliary (bool): Keep ``auxiliary_head``. Defaults to False.

    Returns:
        nn.Module: The segmentor in eval mode, with ``cfg`` attached.
    """
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    cfg.model.train_cfg = None
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    meta = None
    if checkpoint is not None:
        if not osp.isfile(checkpoint) and '://' not in checkpoint:
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        meta = load_weights(model, checkpoint, map_location='cpu').get('meta')
    model.dataset_meta = dataset_meta(cfg, meta, model.decode_head.num_classes)
    if not keep_auxiliary and getattr(model, 'auxiliary_head', None) is not None:
        model.auxiliary_head = None
    model.cfg = cfg
    return model.to(device).eval()


def random_batch(shape: Sequence[int], batch_size: int = 1,
                 device: Union[str, torch.device] = 'cpu', seed: int = 0,
                 channels: int = 3) -> Tuple[torch.Tensor, List[SegDataSample]]:
    """Normalised random images and their data samples, as after the data preprocessor.

    Args:
        shape (Sequence[int]): ``(H, W)`` of the images.
        batch_size (int): Number of images. Defaults to 1.
        device: Device of the tensor. Defaults to 'cpu'.
        seed (int): Seed of the images. Defaults to 0.
        channels (int): Channels of the images. Defaults to 3.

    Returns:
        tuple: ``inputs (N, channels, H, W)`` and ``N`` data samples whose
        ``img_shape``, ``ori_shape`` and ``pad_shape`` are ``(H, W)``.
    """
    h, w = shape
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, channels, h, w, generator=generator)
    if str(device) != 'meta':
        inputs = inputs.to(device)
    else:
        inputs = torch.empty_like(inputs, device='meta')
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0] * 4)
    return inputs, [SegDataSample(metainfo=meta) for _ in range(batch_size)]
