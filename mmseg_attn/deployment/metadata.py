# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The metadata of an exported segmentor: what it is written from, and what is
accepted when it is read back.

Everything a caller needs to feed the graph (mean, std, channel order,
layout, classes, palette, the test pipeline's resize) travels in the model's
``metadata_props`` (:func:`build_metadata`). A model file is input like any
other: :func:`read_metadata` decodes the values and
:func:`validate_metadata` checks them (types, ranges, lengths, and against the
graph's own input and output shapes), refusing what does not fit with an
:class:`OnnxModelError` that names the file and the key.
"""
import json
import math
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch.nn as nn

from mmseg_attn.utils.dataset_meta import config_dataset_meta, config_datasets
from mmseg_attn.version import __version__

from .wrapper import OUTPUT_TYPES

__all__ = [
    'INPUT_NAME', 'MAX_CLASSES', 'MAX_EXPORT_PIXELS', 'MAX_EXPORT_SIDE', 'OUTPUT_NAME',
    'OnnxModelError', 'build_metadata', 'check_shape', 'read_metadata', 'validate_metadata'
]

INPUT_NAME = 'input'
OUTPUT_NAME = 'output'
#: Most classes a model's metadata may name (label maps are written as 16-bit PNGs).
MAX_CLASSES = 65536
#: Largest side and area of an export shape (a forward pass at that size is
#: traced in memory: 16 megapixels, e.g. 4096 x 4096, take tens of GB for a
#: ResNet-101 segmentor).
MAX_EXPORT_SIDE = 8192
MAX_EXPORT_PIXELS = 4096 * 4096


def check_shape(shape: Sequence[int], what: str = 'shape',
                max_pixels: int = MAX_EXPORT_PIXELS) -> Tuple[int, int]:
    """``(H, W)`` of two positive ints within :data:`MAX_EXPORT_SIDE` and ``max_pixels``.

    Raises:
        ValueError: Anything else, naming ``what``.
    """
    if (not isinstance(shape, (list, tuple)) or len(shape) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                       for s in shape)):
        raise ValueError(f'{what} must be two positive ints (H, W), got {shape!r}')
    h, w = int(shape[0]), int(shape[1])
    if max(h, w) > MAX_EXPORT_SIDE or h * w > max_pixels:
        raise ValueError(f'{what} {h} x {w} is beyond the limit of {MAX_EXPORT_SIDE} pixels a '
                         f'side and {max_pixels:,} pixels in all (its forward pass is traced '
                         'in memory); export at a smaller size, dynamic if the model must take '
                         'larger images')
    return h, w


def _test_resize(cfg) -> Optional[dict]:
    """The ``Resize`` of the config's test pipeline: ``scale`` ``[W, H]`` and
    ``keep_ratio``, or None."""
    for ds in config_datasets(cfg, ('test', 'val')):
        for t in ds.get('pipeline') or []:
            if t.get('type') == 'Resize' and t.get('scale') is not None:
                scale = t['scale']
                scale = [int(scale), int(scale)] if isinstance(scale, (int, float)) else \
                    [int(s) for s in scale]
                return dict(scale=scale, keep_ratio=bool(t.get('keep_ratio', False)))
    return None


def build_metadata(model: nn.Module, output: str = 'logits',
                   shape: Optional[Sequence[int]] = None, dynamic: bool = False) -> Dict[str, str]:
    """The ``metadata_props`` of an exported segmentor (all values strings).

    Keys: ``mean``, ``std`` (JSON lists, per input channel, applied as
    ``(x - mean) / std`` to the 0-255 image), ``bgr_to_rgb`` (``'true'``:
    an image read as BGR, e.g. by OpenCV, is turned into RGB before
    normalising), ``channel_order`` (order of the input's channels:
    ``'rgb'`` or ``'bgr'``), ``input_layout`` (``'NCHW'``), ``input_dtype``,
    ``output`` (``'logits'`` or ``'argmax'``), ``output_layout``,
    ``num_classes``, ``align_corners``, ``classes`` and ``palette`` (JSON,
    from the config's test dataset when its class count matches),
    ``dynamic_shape`` (``'true'`` / ``'false'``), ``export_shape``
    (``[H, W]``), ``pad_val`` and ``size_divisor`` of the preprocessor,
    ``test_mode`` (the config's ``test_cfg.mode``; the graph always runs the
    whole input), ``test_resize`` (``{"scale": [W, H], "keep_ratio": ...}``,
    the ``Resize`` of the config's test pipeline, which the inference tools
    apply before a dynamic model), ``config`` (the config's file name) and
    ``producer``.

    Args:
        model (nn.Module): The segmentor, with its ``cfg`` attached (as
            :func:`mmseg_attn.apis.build_segmentor` does) or not.
        output (str): 'logits' or 'argmax'. Defaults to 'logits'.
        shape (Sequence[int], optional): The ``(H, W)`` exported.
        dynamic (bool): Whether height and width are dynamic.
            Defaults to False.

    Returns:
        dict: ``{key: str}``.
    """
    pre = model.data_preprocessor
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    norm = bool(getattr(pre, '_enable_normalize', mean is not None))
    channels = 3 if mean is None else int(mean.numel())
    mean = mean.flatten().tolist() if norm and mean is not None else [0.0] * channels
    std = std.flatten().tolist() if norm and std is not None else [1.0] * channels
    bgr_to_rgb = bool(getattr(pre, 'channel_conversion', False))
    head = model.decode_head
    num_classes = int(head.num_classes)
    cfg = getattr(model, 'cfg', None)
    meta = dict(
        mean=json.dumps(mean),
        std=json.dumps(std),
        bgr_to_rgb=json.dumps(bgr_to_rgb),
        channel_order='rgb' if bgr_to_rgb else 'bgr',
        input_layout='NCHW',
        input_dtype='float32',
        input_name=INPUT_NAME,
        output=output,
        output_name=OUTPUT_NAME,
        output_layout='NKHW' if output == 'logits' else 'NHW',
        num_classes=str(num_classes),
        out_channels=str(int(getattr(head, 'out_channels', num_classes))),
        align_corners=json.dumps(bool(head.align_corners)),
        dynamic_shape=json.dumps(bool(dynamic)),
        pad_val=json.dumps(float(getattr(pre, 'pad_val', 0))),
        size_divisor=json.dumps(getattr(pre, 'size_divisor', None)),
        producer=f'mmseg_attn {__version__}',
    )
    if shape is not None:
        meta['export_shape'] = json.dumps(list(check_shape(tuple(shape))))
    if cfg is not None:
        test_cfg = cfg.model.get('test_cfg') or {}
        meta['test_mode'] = str(test_cfg.get('mode', 'whole'))
        if cfg.filename:
            meta['config'] = osp.basename(cfg.filename)
        resize = _test_resize(cfg)
        if resize is not None:
            meta['test_resize'] = json.dumps(resize)
        info = config_dataset_meta(cfg) or {}
        classes = list(info.get('classes') or ())
        if len(classes) == num_classes:
            meta['classes'] = json.dumps(classes)
            palette = info.get('palette')
            if palette is not None and len(palette) >= num_classes:
                meta['palette'] = json.dumps([list(map(int, c)) for c in palette[:num_classes]])
    return meta


class OnnxModelError(ValueError):
    """An ONNX model file cannot be used: the message names the file, and the
    metadata key where one is at fault."""


def _not_onnx(path: str, error: Exception) -> OnnxModelError:
    with open(path, 'rb') as f:
        head = f.read(64)
    if not head:
        what = 'it is empty (0 bytes)'
    elif all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        first = head.decode('ascii', 'replace').strip().splitlines()[0][:40] if head.strip() \
            else ''
        what = f'it is a text file (it begins with {first!r})'
    else:
        what = (f'it is truncated or damaged, or no ONNX model ({type(error).__name__}: '
                f'{str(error).splitlines()[0][:120] if str(error) else "no detail"})')
    return OnnxModelError(f'{path!r} is not a readable ONNX model: {what}')


def read_metadata(onnx_file: str) -> Dict[str, object]:
    """The metadata of an exported model, JSON values decoded.

    Args:
        onnx_file (str): The ``.onnx`` file.

    Returns:
        dict: ``metadata_props`` with ``mean``, ``std``, ``classes``,
        ``palette``, ... as Python objects (strings that are not JSON stay
        strings).

    Raises:
        FileNotFoundError: The file does not exist.
        IsADirectoryError: It is a folder.
        OnnxModelError: It is empty, text, truncated or damaged.
    """
    import onnx
    onnx_file = str(onnx_file)
    if osp.isdir(onnx_file):
        raise IsADirectoryError(f'ONNX model {onnx_file!r} is a directory, not a .onnx file')
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX model {onnx_file!r} does not exist')
    try:
        model = onnx.load(onnx_file, load_external_data=False)
    except Exception as e:  # DecodeError, a protobuf RuntimeError, ...
        raise _not_onnx(onnx_file, e) from None
    if not model.graph.node:
        raise _not_onnx(onnx_file, ValueError('the graph holds no node'))
    out = {}
    for prop in model.metadata_props:
        try:
            out[prop.key] = json.loads(prop.value)
        except ValueError:
            out[prop.key] = prop.value
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _positive_int(value, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit


def _static(dims, index: int) -> Optional[int]:
    return dims[index] if len(dims) > index and isinstance(dims[index], int) else None


def validate_metadata(meta: Dict[str, object], onnx_file: str, session=None) -> Dict[str, object]:
    """Check the metadata of an exported model; return it with defaults filled in.

    Every value is input: a wrong type, an out-of-range or inconsistent value
    (``num_classes`` of a billion, a palette shorter than the classes, an
    ``export_shape`` the graph does not take) is refused before any work.

    Args:
        meta (dict): What :func:`read_metadata` returned.
        onnx_file (str): The file (named in errors).
        session (onnxruntime.InferenceSession, optional): Its session: the
            graph's input and output shapes are checked against the
            metadata. Defaults to None.

    Returns:
        dict: ``meta`` with ``mean``, ``std`` (lists), ``bgr_to_rgb``,
        ``output``, ``num_classes``, ``dynamic_shape`` always present.

    Raises:
        OnnxModelError: Naming the file and the key.
    """
    meta = dict(meta)

    def refuse(key, problem):
        raise OnnxModelError(f'metadata key {key!r} of {onnx_file!r}: {problem} (got '
                             f'{meta.get(key)!r:.80})')

    in_dims = list(session.get_inputs()[0].shape) if session is not None else []
    out_dims = list(session.get_outputs()[0].shape) if session is not None else []
    channels = _static(in_dims, 1) or 3
    for key, default in (('mean', 0.0), ('std', 1.0)):
        value = meta.setdefault(key, [default] * channels)
        if not (isinstance(value, list) and len(value) == channels
                and all(_number(v) for v in value)):
            refuse(key, f'expected a list of {channels} finite numbers (one per input channel)')
        if key == 'std' and not all(v > 0 for v in value):
            refuse(key, 'every std must be > 0')
    for key in ('bgr_to_rgb', 'dynamic_shape'):
        if not isinstance(meta.setdefault(key, False), bool):
            refuse(key, 'expected true or false')
    if meta.setdefault('output', 'logits') not in OUTPUT_TYPES:
        refuse('output', f'expected one of {OUTPUT_TYPES}')
    if 'num_classes' not in meta:
        graph = _static(out_dims, 1) if meta['output'] == 'logits' else None
        if graph is None:
            refuse('num_classes', 'missing, and the graph does not say it')
        meta['num_classes'] = 2 if graph == 1 else graph
    num_classes = meta['num_classes']
    if not _positive_int(num_classes, MAX_CLASSES):
        refuse('num_classes', f'expected an int from 1 to {MAX_CLASSES}')
    logits = _static(out_dims, 1) if meta['output'] == 'logits' else None
    if logits is not None and logits not in (num_classes, 1):
        refuse('num_classes', f'the graph\'s output has {logits} channels')
    classes = meta.get('classes')
    if classes is not None and not (isinstance(classes, list) and len(classes) == num_classes
                                    and all(isinstance(c, str) for c in classes)):
        refuse('classes', f'expected {num_classes} class names (strings)')
    palette = meta.get('palette')
    if palette is not None and not (
            isinstance(palette, list) and len(palette) >= num_classes and all(
                isinstance(c, list) and len(c) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                        for v in c) for c in palette)):
        refuse('palette', f'expected at least {num_classes} colours of three ints 0-255')
    shape = meta.get('export_shape')
    if shape is not None or not meta['dynamic_shape']:
        try:
            check_shape(shape, 'export_shape', max_pixels=MAX_EXPORT_SIDE**2)
        except ValueError as e:
            refuse('export_shape', str(e))
        graph = (_static(in_dims, 2), _static(in_dims, 3))
        if not meta['dynamic_shape'] and None not in graph and tuple(graph) != tuple(shape):
            refuse('export_shape', f'the graph takes {graph[0]} x {graph[1]} inputs')
    resize = meta.get('test_resize')
    if resize is not None and not (
            isinstance(resize, dict) and isinstance(resize.get('keep_ratio'), bool)
            and isinstance(resize.get('scale'), list) and len(resize['scale']) == 2
            and all(_positive_int(v, MAX_EXPORT_SIDE * 8) for v in resize['scale'])):
        refuse('test_resize', 'expected {"scale": [W, H] of positive ints, "keep_ratio": '
               'true or false}')
    return meta
