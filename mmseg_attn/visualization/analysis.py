# Copyright (c) mmseg_attn contributors. All rights reserved.
"""One segmentor on one image: its attention maps, prediction and Grad-CAM.

:func:`analyze` runs the model once with the attention probes hooked
(:class:`~.recorder.AttentionRecorder`), predicts the image and computes a
Grad-CAM (:mod:`.gradcam`); the pictures are drawn from its result
(:mod:`.figures`, :mod:`.report`).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import is_model_wrapper
from mmseg.structures import SegDataSample

from mmseg_attn.utils.dataset_meta import dataset_meta

from .gradcam import grad_cam
from .meta import default_class_id, model_name, resolve_class_id
from .recorder import AttentionRecord, AttentionRecorder

__all__ = ['AttentionAnalysis', 'analyze', 'describe_record', 'model_meta', 'preprocess',
           'unwrap']

_KIND_WORDS = {
    'channel': 'channel gate',
    'spatial': 'spatial attention',
    'pixel': 'pixel attention, mean over channels',
    'fusion': 'fusion weight of input 1, mean over channels',
    'fla': 'row and column attention',
}


def preprocess(model: nn.Module, image: np.ndarray) -> torch.Tensor:
    """Normalise one BGR image with the model's data preprocessor.

    Returns:
        Tensor: ``(1, 3, H, W)`` on the model's device.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    h, w = image.shape[:2]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    data = model.data_preprocessor(dict(inputs=[tensor], data_samples=[sample]), False)
    return data['inputs']


def describe_record(record: AttentionRecord) -> Tuple[str, str]:
    """A headline (``'CBAM spatial attention'``) and the path of a record, for titles."""
    container = record.containers[-1].rsplit(' (', 1)[-1].rstrip(')') if record.containers \
        else None
    block = record.block_type if container is None else f'{record.block_type} in {container}'
    call = f' (call {record.call})' if record.call else ''
    return f'{block}: {_KIND_WORDS.get(record.kind, record.kind)}{call}', record.name


@dataclass
class AttentionAnalysis:
    """Everything the pictures of one model on one image are drawn from.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` BGR input.
        pred (np.ndarray): ``(H, W)`` predicted labels (logits resized to
            the image, as mmseg's whole-image inference does).
        records (list[AttentionRecord]): The attention maps.
        unsupported (list[str]): Blocks that declare a kind but no probe.
        cam (np.ndarray): ``(h, w)`` Grad-CAM (not normalised).
        cam_info (dict): Target layer, class, score (see :func:`grad_cam`).
        classes (list[str]): Class names.
        palette (list): RGB colour of each class.
        class_id (int): Class of the Grad-CAM.
        model (str): Model name.
    """

    image: np.ndarray
    pred: np.ndarray
    records: List[AttentionRecord]
    unsupported: List[str]
    cam: np.ndarray
    cam_info: dict
    classes: List[str]
    palette: list
    class_id: int
    model: str
    summary: List[dict] = field(default_factory=list)

    @property
    def class_name(self) -> str:
        return self.classes[self.class_id]

    @property
    def cam_layer(self) -> str:
        index = self.cam_info.get('index')
        return self.cam_info['layer'] + (f'[{index}]' if index is not None else '')

    @property
    def cam_where(self) -> str:
        """The layer, and a note when the class is predicted nowhere."""
        if self.cam_info.get('predicted_pixels', 1) == 0:
            return f'{self.cam_layer} (not predicted: score over all pixels)'
        return self.cam_layer


def model_meta(model: nn.Module, meta: Optional[dict] = None) -> dict:
    """``meta``, else ``model.dataset_meta``, else the classes of ``model.cfg``."""
    if meta is None:
        meta = getattr(model, 'dataset_meta', None)
    if not meta or not meta.get('classes'):
        meta = dataset_meta(getattr(model, 'cfg', None), None, model.decode_head.num_classes)
    return meta


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a wrapper (DDP), or the model."""
    return model.module if is_model_wrapper(model) else model


def analyze(model: nn.Module,
            image: np.ndarray,
            class_id: Optional[int] = None,
            class_name: Optional[str] = None,
            cam_layer: Optional[str] = None,
            cam_index: Optional[int] = None,
            meta: Optional[dict] = None,
            name: Optional[str] = None) -> AttentionAnalysis:
    """Run a segmentor on one image: attention maps, prediction and Grad-CAM.

    The model is used as it is (call ``model.eval()`` first; the hook and
    the tool do). A model wrapper (DDP) is unwrapped.

    Args:
        model (nn.Module): The segmentor.
        image (np.ndarray): ``(H, W, 3)`` uint8 BGR image.
        class_id (int, optional): Class of the Grad-CAM. Defaults to None.
        class_name (str, optional): The same by name (case-insensitive).
            Defaults to None; with neither, the most frequent predicted
            foreground class (:func:`~.meta.default_class_id`).
        cam_layer (str, optional): Module path of the Grad-CAM target.
            Defaults to None (the decode head's input).
        cam_index (int, optional): Element of a tuple output. Defaults to None.
        meta (dict, optional): ``classes`` and ``palette``. Defaults to None
            (``model.dataset_meta``, else from ``model.cfg``).
        name (str, optional): Model name for titles. Defaults to None (the
            config file name).

    Returns:
        AttentionAnalysis: The result.
    """
    model = unwrap(model)
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
            and image.dtype == np.uint8):
        raise ValueError(f'image must be an (H, W, 3) uint8 BGR array, got '
                         f'{getattr(image, "shape", type(image))} '
                         f'{getattr(image, "dtype", "")}'.rstrip())
    meta = model_meta(model, meta)
    classes = list(meta['classes'])
    chosen = resolve_class_id(classes, class_id, class_name)
    inputs = preprocess(model, image)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        logits = model(inputs, mode='tensor')
        logits = F.interpolate(logits.float(), size=image.shape[:2], mode='bilinear',
                               align_corners=getattr(model.decode_head, 'align_corners', False))
    pred = logits.argmax(1)[0].cpu().numpy()
    if chosen is None:
        chosen = default_class_id(pred, classes)
    cam, cam_info = grad_cam(model, inputs, chosen, cam_layer, cam_index)
    cam_info['class_name'] = classes[chosen]
    return AttentionAnalysis(image=image, pred=pred, records=recorder.records,
                             unsupported=recorder.unsupported, cam=cam, cam_info=cam_info,
                             classes=classes, palette=meta['palette'], class_id=chosen,
                             model=name or model_name(getattr(model, 'cfg', None)),
                             summary=recorder.summary())
