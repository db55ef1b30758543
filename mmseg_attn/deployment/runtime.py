# Copyright (c) mmseg_attn contributors. All rights reserved.
"""ONNX Runtime: the one place where this package creates and runs sessions, and
segments an image with an exported model at a memory bounded by the image.

:func:`segment_image` feeds the model at its input size (the export shape of
a static model; for a dynamic one the ``Resize`` of the config's test
pipeline, as mmseg's test pipeline resizes), and brings the result back to
the image's size without holding the logits at that size: the logits are
upsampled bilinearly (as mmseg's postprocessing, ``align_corners`` from the
metadata) a band of rows at a time and reduced to labels band by band; an
argmax model's labels are resized with nearest neighbours.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

import mmcv
import numpy as np
import torch

from .metadata import MAX_EXPORT_PIXELS, _not_onnx

__all__ = [
    'OrtSegmentor', 'create_session', 'model_input_size', 'normalize_image', 'segment_image',
    'upsample_argmax'
]

#: Output rows upsampled at once by :func:`upsample_argmax` (its working memory
#: is about 4 x classes x rows x width float32 values).
BAND_ROWS = 32


def create_session(onnx_file: str, num_threads: Optional[int] = None,
                   providers: Optional[List[str]] = None):
    """An ONNX Runtime session with all graph optimisations.

    Args:
        onnx_file (str): The model.
        num_threads (int, optional): Intra-op threads; None lets ONNX
            Runtime choose (one per physical core). Defaults to None.
        providers (list[str], optional): Execution providers.
            Defaults to None, meaning ``['CPUExecutionProvider']``.
    """
    import onnxruntime as ort
    onnx_file = str(onnx_file)
    if osp.isdir(onnx_file):
        raise IsADirectoryError(f'ONNX model {onnx_file!r} is a directory, not a .onnx file')
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX model {onnx_file!r} does not exist')
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if num_threads:
        options.intra_op_num_threads = num_threads
    try:
        return ort.InferenceSession(onnx_file, options,
                                    providers=providers or ['CPUExecutionProvider'])
    except Exception as e:  # InvalidProtobuf, Fail, NotImplemented, ...
        raise _not_onnx(onnx_file, e) from None


class OrtSegmentor(torch.nn.Module):
    """An exported model, called like a PyTorch model on its input.

    ``model(inputs)`` is one ONNX Runtime run of the exported graph on the
    normalised ``(N, 3, H, W)`` images (a tensor or an array) and returns its
    output as an array (logits or labels at the input size). It also takes
    ``model(inputs, data_samples, mode='predict')``, so that
    :func:`mmseg_attn.analysis.time_inference` times it as a segmentor.

    Args:
        model (str | onnxruntime.InferenceSession): The ``.onnx`` file or a
            session.
        num_threads (int, optional): Intra-op threads of a session created
            here. Defaults to None (ONNX Runtime's choice).
    """

    def __init__(self, model, num_threads: Optional[int] = None):
        super().__init__()
        self.session = create_session(model, num_threads) if isinstance(model, str) else model
        self.input_name = self.session.get_inputs()[0].name
        # time_inference reads the device from the parameters
        self.anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, inputs: Union[torch.Tensor, np.ndarray], data_samples=None,
                mode: str = 'predict') -> np.ndarray:
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().cpu().numpy()
        (out, ) = self.session.run(None, {self.input_name: np.ascontiguousarray(inputs)})
        return out


def model_input_size(meta: Dict[str, object], image_size: Tuple[int, int]) -> Tuple[int, int]:
    """``(h, w)`` the model is fed for an image of ``image_size``: the export shape
    of a static model; for a dynamic one the test pipeline's ``Resize``
    (``test_resize`` of the metadata: ``mmcv.rescale_size`` with
    ``keep_ratio``), else the image's own size, scaled down (keeping its ratio)
    to at most :data:`~.metadata.MAX_EXPORT_PIXELS`."""
    h, w = image_size
    if not meta.get('dynamic_shape'):
        return tuple(meta['export_shape'])
    resize = meta.get('test_resize')
    if resize:
        scale = tuple(resize['scale'])
        if resize['keep_ratio']:
            new_w, new_h = mmcv.rescale_size((w, h), scale)
            return new_h, new_w
        return scale[1], scale[0]
    if h * w > MAX_EXPORT_PIXELS:
        factor = (MAX_EXPORT_PIXELS / (h * w))**0.5
        return max(1, int(h * factor)), max(1, int(w * factor))
    return h, w


def normalize_image(image: np.ndarray, meta: Dict[str, object]) -> np.ndarray:
    """BGR ``uint8 (H, W, 3)`` -> the normalised ``(1, 3, H, W)`` float32 input."""
    img = image.astype(np.float32)
    if meta.get('bgr_to_rgb'):
        img = img[..., ::-1]
    img -= np.asarray(meta['mean'], dtype=np.float32)
    img /= np.asarray(meta['std'], dtype=np.float32)
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None])


def _bilinear_axis(in_size: int, out_size: int, align_corners: bool):
    """Source indices and weights of an axis, as PyTorch's bilinear interpolation."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else dst * 0
    else:
        src = np.maximum((dst + 0.5) * (in_size / out_size) - 0.5, 0)
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = np.clip(src - i0, 0, 1).astype(np.float32)
    return i0, i1, (1 - w1).astype(np.float32), w1


def upsample_argmax(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False,
                    band_rows: int = BAND_ROWS) -> np.ndarray:
    """``argmax`` over the classes of the logits upsampled bilinearly to ``size``,
    a band of ``band_rows`` output rows at a time.

    Args:
        logits (np.ndarray): ``(K, h, w)`` float logits (``K = 1``: binary,
            label 1 where the logit is > 0).
        size (tuple): ``(H, W)`` of the labels.
        align_corners (bool): As in ``F.interpolate``. Defaults to False.
        band_rows (int): Rows per band. Defaults to :data:`BAND_ROWS`.

    Returns:
        np.ndarray: ``(H, W)`` labels, ``uint8`` for up to 256 classes, else
        ``uint16``.
    """
    k, h, w = logits.shape
    out_h, out_w = size
    labels = np.empty((out_h, out_w), np.uint8 if max(k, 2) <= 256 else np.uint16)
    y0s, y1s, wy0, wy1 = _bilinear_axis(h, out_h, align_corners)
    x0s, x1s, wx0, wx1 = _bilinear_axis(w, out_w, align_corners)
    logits = logits.astype(np.float32, copy=False)
    for start in range(0, out_h, band_rows):
        stop = min(start + band_rows, out_h)
        rows = np.unique(np.concatenate([y0s[start:stop], y1s[start:stop]]))
        # horizontally first, then vertically, as PyTorch's kernel
        part = logits[:, rows]
        across = part[:, :, x0s] * wx0 + part[:, :, x1s] * wx1
        top = across[:, np.searchsorted(rows, y0s[start:stop])]
        bottom = across[:, np.searchsorted(rows, y1s[start:stop])]
        band = top * wy0[start:stop, None] + bottom * wy1[start:stop, None]
        labels[start:stop] = (band[0] > 0) if k == 1 else band.argmax(0)
    return labels


def segment_image(model: 'OrtSegmentor', meta: Dict[str, object],
                  image: np.ndarray) -> np.ndarray:
    """Labels ``(H, W)`` of a BGR ``uint8`` image at its own size.

    Args:
        model (OrtSegmentor): The exported model.
        meta (dict): Its metadata, validated
            (:func:`~.metadata.validate_metadata`).
        image (np.ndarray): ``(H, W, 3)`` BGR ``uint8``.

    Returns:
        np.ndarray: ``uint8`` labels (``uint16`` above 256 classes).
    """
    size = image.shape[:2]
    in_h, in_w = model_input_size(meta, size)
    resized = image if (in_h, in_w) == tuple(size) else mmcv.imresize(image, (in_w, in_h))
    out = model(normalize_image(resized, meta))[0]
    del resized
    if meta['output'] == 'argmax':
        dtype = np.uint8 if meta['num_classes'] <= 256 else np.uint16
        labels = out.astype(dtype)
        if labels.shape != tuple(size):
            labels = mmcv.imresize(labels, (size[1], size[0]), interpolation='nearest')
        return labels
    return upsample_argmax(out, size, bool(meta.get('align_corners', False)))
