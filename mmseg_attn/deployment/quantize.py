# Copyright (c) mmseg_attn contributors. All rights reserved.
"""INT8 static quantization of an exported segmentor, calibrated on its own data.

:func:`quantize_onnx` runs ONNX Runtime's static quantization: the model is
pre-processed (``quant_pre_process``: shape inference and graph
optimisation), then quantized in the QDQ format with per-channel signed int8
weights and unsigned int8 activations, whose ranges come from calibration
inputs drawn from the config's dataset through the config's test pipeline and
data preprocessor (:func:`calibration_inputs`: the real normalisation, the
real resize). The metadata of the float model is kept and records the
quantization; the layers that stay float are listed. The file is written
atomically.
"""
import contextlib
import io
import json
import os
import os.path as osp
import tempfile
from collections import Counter
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

from mmseg_attn.security.atomic import atomic_write_bytes
from mmseg_attn.utils.config import load_config

from .metadata import INPUT_NAME, OnnxModelError, read_metadata, validate_metadata
from .runtime import create_session, model_input_size

__all__ = [
    'CALIBRATION_METHODS', 'calibration_inputs', 'float_nodes', 'quantize_onnx',
    'quantize_with_inputs'
]

#: ``method`` of :func:`quantize_onnx` -> ``onnxruntime.quantization.CalibrationMethod`` name.
CALIBRATION_METHODS = {'minmax': 'MinMax', 'entropy': 'Entropy', 'percentile': 'Percentile'}
#: Histogram of the entropy calibration: ONNX Runtime's defaults (128 bins,
#: 128 quantized bins) leave its KL search one candidate, the full range, so
#: that ``entropy`` would silently equal ``minmax``; TensorRT's 2048 bins give
#: it 961 thresholds to choose from.
ENTROPY_BINS = dict(num_bins=2048, num_quantized_bins=128)
#: Operators whose float kernels a QDQ model would run in int8.
WEIGHTED_OPS = ('Conv', 'ConvTranspose', 'MatMul', 'Gemm')


def _split_dataset(cfg, split: str):
    """The config's ``split`` dataset with the test pipeline (no augmentation)."""
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        raise ValueError(f'the config has no {split}_dataloader dataset to calibrate on')
    dataset_cfg = loader['dataset'].copy()
    test_pipeline = cfg.test_dataloader.dataset.pipeline if cfg.get('test_dataloader') \
        else cfg.val_dataloader.dataset.pipeline
    dataset_cfg['pipeline'] = [t for t in test_pipeline if 'Annotations' not in t['type']]
    root = dataset_cfg.get('data_root')
    if root is not None and not osp.isdir(root):
        raise FileNotFoundError(
            f'the {split} dataset of the config is at {root!r}, which does not exist: give '
            f'its folder with --cfg-options {split}_dataloader.dataset.data_root=DIR')
    return DATASETS.build(dataset_cfg)


def calibration_inputs(cfg, num: int, split: str = 'val',
                       meta: Optional[Dict[str, object]] = None) -> Iterator[np.ndarray]:
    """``num`` model inputs ``(1, 3, h, w)`` from the config's ``split`` dataset,
    spread over it, through the test pipeline and the data preprocessor (and
    resized to a static model's export shape, as :func:`~.runtime.segment_image`
    feeds it).

    Raises:
        FileNotFoundError: The dataset's folder does not exist.
        ValueError: ``num`` is not between 1 and the size of the dataset.
    """
    cfg = load_config(cfg)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = _split_dataset(cfg, split)
    if not isinstance(num, int) or not 1 <= num <= len(dataset):
        raise ValueError(f'{num} calibration samples asked for, but the {split} split holds '
                         f'{len(dataset)} images: use --calib-samples 1 to {len(dataset)}')
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    for index in np.linspace(0, len(dataset) - 1, num).round().astype(int):
        data = preprocessor(pseudo_collate([dataset[int(index)]]), False)
        inputs = data['inputs']
        if meta is not None:
            size = model_input_size(meta, tuple(inputs.shape[2:]))
            if tuple(inputs.shape[2:]) != tuple(size):
                inputs = torch.nn.functional.interpolate(inputs, size, mode='bilinear',
                                                         align_corners=False)
        yield inputs.numpy().astype(np.float32)


def float_nodes(model) -> Dict[str, List[str]]:
    """The weighted operators (:data:`WEIGHTED_OPS`) that run in int8 and those
    that stay float in a QDQ model, by name."""
    produced_by = {out: node.op_type for node in model.graph.node for out in node.output}
    report = {'quantized': [], 'float': []}
    for node in model.graph.node:
        if node.op_type in WEIGHTED_OPS:
            quantized = produced_by.get(node.input[0]) == 'DequantizeLinear'
            report['quantized' if quantized else 'float'].append(node.name or node.op_type)
    return report


def quantize_onnx(cfg, model_file: str, output_file: str, calib_samples: int = 16,
                  calib_split: str = 'val', method: str = 'minmax') -> dict:
    """Quantize an exported segmentor to INT8 (QDQ) with calibration on its data.

    Args:
        cfg (str | Config): The config the model was exported from (its
            dataset, test pipeline and data preprocessor).
        model_file (str): The float ``.onnx`` model (from
            ``tools/deployment/pytorch2onnx.py``).
        output_file (str): The quantized model to write.
        calib_samples (int): Calibration images. Defaults to 16.
        calib_split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to 'val'.
        method (str): ``'minmax'``, ``'entropy'`` or ``'percentile'``.
            Defaults to 'minmax'.

    Returns:
        dict: The ``quantization`` entry written into the metadata, with the
        lists of int8 and float weighted layers.

    Raises:
        OnnxModelError: ``model_file`` is no ONNX model (or already quantized).
        FileNotFoundError, ValueError: A bad dataset or argument (named).
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'method must be one of {tuple(CALIBRATION_METHODS)}, got {method!r}')
    if calib_split not in ('train', 'val', 'test'):
        raise ValueError(f'calib_split must be train, val or test, got {calib_split!r}')
    meta = validate_metadata(read_metadata(model_file), model_file, create_session(model_file))
    if 'quantization' in meta:
        raise OnnxModelError(f'{model_file!r} is quantized already ({meta["quantization"]}): '
                             'quantize the float model')
    inputs = list(calibration_inputs(cfg, calib_samples, calib_split, meta))
    return quantize_with_inputs(model_file, output_file, inputs, method,
                                dict(calib_split=calib_split, calib_samples=calib_samples))


def _pre_process(model_file: str, output_file: str) -> None:
    """``quant_pre_process``; where its symbolic shape inference fails (ONNX
    Runtime < 1.20 on the Shape/Gather/Resize chain of a dynamic export), with
    ONNX's shape inference alone."""
    from onnxruntime import quantization as q
    try:
        q.quant_pre_process(model_file, output_file)
    except TypeError:
        q.quant_pre_process(model_file, output_file, skip_symbolic_shape=True)


def _entropy_ranges(model_file: str, reader, work: str) -> Dict[str, List[dict]]:
    """The activation ranges of the entropy (KL) calibration over
    :data:`ENTROPY_BINS`, as ``TensorQuantOverrides`` of ``quantize_static``
    (which cannot pass the histogram size to its calibrator itself)."""
    from onnxruntime import quantization as q
    calibrator = q.create_calibrator(
        model_file, augmented_model_path=osp.join(work, 'augmented.onnx'),
        calibrate_method=q.CalibrationMethod.Entropy, extra_options=dict(ENTROPY_BINS))
    calibrator.collect_data(reader)
    ranges = calibrator.compute_data()
    return {name: [dict(rmin=np.asarray(data.range_value[0], np.float32),
                        rmax=np.asarray(data.range_value[1], np.float32))]
            for name, data in ranges.items()}


def quantize_with_inputs(model_file: str, output_file: str, inputs: List[np.ndarray],
                         method: str = 'minmax', record: Optional[dict] = None) -> dict:
    """The quantization of :func:`quantize_onnx` with given calibration inputs
    (``(1, 3, h, w)`` float32 arrays as the model takes them).

    Args:
        record (dict, optional): More to record in the ``quantization``
            metadata entry (where the inputs came from). Defaults to None.
    """
    import onnx
    from onnxruntime import quantization as q
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'method must be one of {tuple(CALIBRATION_METHODS)}, got {method!r}')

    class Reader(q.CalibrationDataReader):

        def __init__(self):
            self.items = iter(inputs)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {INPUT_NAME: item}

    folder = osp.dirname(osp.abspath(output_file))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix='.quantize.') as work:
        prepared, quantized = osp.join(work, 'prepared.onnx'), osp.join(work, 'int8.onnx')
        _pre_process(model_file, prepared)
        options, calibrate = {}, CALIBRATION_METHODS[method]
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrators' prints
            if method == 'entropy':
                # the ranges come from the overrides; min-max only fills the rest
                options['TensorQuantOverrides'] = _entropy_ranges(prepared, Reader(), work)
                calibrate = 'MinMax'
            q.quantize_static(
                prepared, quantized, Reader(), quant_format=q.QuantFormat.QDQ,
                per_channel=True, activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                calibrate_method=getattr(q.CalibrationMethod, calibrate),
                extra_options=options)
        model = onnx.load(quantized)
    layers = float_nodes(model)
    info = dict(format='QDQ', weights='int8 per channel', activations='uint8', method=method,
                **(record or {}), quantized_layers=len(layers['quantized']),
                float_layers=layers['float'],
                op_types=dict(Counter(n.op_type for n in model.graph.node
                                            if n.op_type not in ('QuantizeLinear',
                                                                 'DequantizeLinear'))))
    props = {p.key: p.value for p in onnx.load(model_file, load_external_data=False)
             .metadata_props}
    props['quantization'] = json.dumps(info)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    atomic_write_bytes(model.SerializeToString(), output_file)
    return dict(info, quantized=layers['quantized'])
