# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Export a segmentor to ONNX and check it in ONNX Runtime.

The exported graph is :class:`~mmseg_attn.deployment.SegmentorExportWrapper`:
input ``input``, the normalised ``(N, 3, H, W)`` float tensor; output
``output``, the logits ``(N, K, H, W)`` resized to the input size as mmseg's
postprocessing does, or the int64 labels ``(N, H, W)``. Everything a caller
needs to feed it (mean, std, channel order, layout, classes, palette) is
written into the model's ``metadata_props`` (:mod:`.metadata`). The file is
written atomically: an export that fails part-way (a full disk) leaves an
existing file as it was.

The exporter is torch's TorchScript-based one by default and its
``torch.export``-based one with ``dynamo=True`` (see :func:`export_onnx`).
"""
import contextlib
import copy
import logging
import os
import os.path as osp
import tempfile
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import ConfigDict

from mmseg_attn.analysis.comparison import relative_difference
from mmseg_attn.security.atomic import atomic_write_bytes
from mmseg_attn.utils.torch_compat import ONNX_DYNAMO_EXPORT, ONNX_TORCHSCRIPT_MAX_OPSET

from .metadata import (
    INPUT_NAME,
    MAX_EXPORT_PIXELS,
    OUTPUT_NAME,
    build_metadata,
    check_shape,
    read_metadata,
)
from .runtime import create_session
from .wrapper import OUTPUT_TYPES, ExportError, SegmentorExportWrapper, prepare_for_export

__all__ = ['DEFAULT_OPSET', 'ExportError', 'export_onnx', 'verify_onnx']

#: ONNX opset written by default (ONNX Runtime >= 1.14 runs 18; torch 2.1's
#: exporter writes up to 17).
DEFAULT_OPSET = min(18, ONNX_TORCHSCRIPT_MAX_OPSET)
#: Largest relative difference to PyTorch that :func:`verify_onnx` accepts.
DEFAULT_RTOL = 1e-4


def _check_opset(opset: int, dynamo: bool) -> None:
    newest = 23 if dynamo else ONNX_TORCHSCRIPT_MAX_OPSET
    oldest = 18 if dynamo else 7
    if not isinstance(opset, int) or isinstance(opset, bool) or not oldest <= opset <= newest:
        exporter = 'torch.export-based' if dynamo else 'TorchScript-based'
        raise ValueError(f'opset {opset!r}: the {exporter} exporter of torch '
                         f'{torch.__version__} writes opsets {oldest} to {newest}')


def _forward_error(exc: Exception, shape: Tuple[int, int]) -> ExportError:
    return ExportError(
        f'the model cannot run on an input of {shape[0]} x {shape[1]} ({type(exc).__name__}: '
        f'{exc}). Segmentors whose features are merged across strides may need H and W '
        'divisible by their output stride (e.g. 32); choose another --shape')


def export_onnx(model: nn.Module,
                file: str,
                shape: Sequence[int] = (512, 1024),
                dynamic: bool = False,
                output: str = 'logits',
                opset: int = DEFAULT_OPSET,
                batch_size: int = 1,
                dynamo: bool = False,
                max_pixels: int = MAX_EXPORT_PIXELS) -> Dict[str, str]:
    """Export a segmentor to an ONNX file with its metadata.

    The model is deep-copied (the argument is left untouched), put in eval
    mode, and rewritten by :func:`~mmseg_attn.deployment.prepare_for_export`:
    every ``nn.AdaptiveAvgPool2d`` with an output other than ``1 x 1``
    becomes an :class:`~mmseg_attn.deployment.ExportableAdaptiveAvgPool2d`
    (an exporter would bake the traced size into its kernel: PSPNet's and
    UPerNet's pyramid pooling) and mmseg's ``Upsample`` by an integer factor
    an :class:`~mmseg_attn.deployment.ExportableUpsample`; both compute the
    same result for every input size.

    Args:
        model (nn.Module): An mmseg ``EncoderDecoder`` (e.g. from
            :func:`mmseg_attn.apis.build_segmentor`).
        file (str): The ``.onnx`` file to write.
        shape (Sequence[int]): ``(H, W)`` of the example input. With
            ``dynamic=False`` the only size the model accepts.
            Defaults to (512, 1024).
        dynamic (bool): Make height and width dynamic. Defaults to False.
        output (str): 'logits' (``(N, K, H, W)`` float) or 'argmax'
            (``(N, H, W)`` int64). Defaults to 'logits'.
        opset (int): ONNX opset version. Defaults to :data:`DEFAULT_OPSET`
            (18; 17 with torch 2.1).
        batch_size (int): Batch of the example input (the batch is fixed).
            Defaults to 1.
        dynamo (bool): Use torch's ``torch.export``-based exporter (needs
            ``onnxscript``) instead of the TorchScript-based one. The
            TorchScript exporter is the default here although torch >= 2.9
            deprecates it: it exports many times faster. A tracer records Python
            arithmetic on sizes as constants; the rewrites above remove the
            cases of mmseg's models, and :func:`verify_onnx` at a second
            shape catches any other (see docs/deployment.md for the export
            times). Needs torch >= 2.5. Defaults to False.
        max_pixels (int): Refuse larger ``shape`` (H x W); the side is at
            most :data:`~.metadata.MAX_EXPORT_SIDE`. Defaults to
            :data:`~.metadata.MAX_EXPORT_PIXELS`.

    Returns:
        dict: The metadata written into the file.

    Raises:
        ValueError: For an unknown ``output``, a ``shape`` beyond the limits
            or an ``opset`` the exporter does not write.
        ExportError: When the model cannot run at ``shape`` or the exporter
            fails (the message says why).
    """
    if output not in OUTPUT_TYPES:
        raise ValueError(f'output must be one of {OUTPUT_TYPES}, got {output!r}')
    shape = check_shape(tuple(shape), max_pixels=max_pixels)
    _check_opset(opset, dynamo)
    if dynamo and not ONNX_DYNAMO_EXPORT:
        raise ExportError(f'dynamo=True needs torch.onnx.export(dynamo=True) of torch >= 2.5; '
                          f'torch {torch.__version__} has only the TorchScript-based exporter '
                          '(dynamo=False)')
    import onnx
    cfg = getattr(model, 'cfg', None)
    model = copy.deepcopy(model).cpu().eval()
    prepare_for_export(model)
    wrapper = SegmentorExportWrapper(model, output).eval()
    example = torch.randn(batch_size, 3, *shape)
    with torch.no_grad():
        try:
            wrapper(example)
        except (RuntimeError, ValueError) as exc:
            raise _forward_error(exc, shape) from exc
    kwargs = dict(dynamo=True)
    if dynamic and dynamo:
        dim = torch.export.Dim.DYNAMIC
        kwargs['dynamic_shapes'] = {'inputs': {2: dim, 3: dim}}
    elif dynamic:
        kwargs = dict(dynamo=False, dynamic_axes={INPUT_NAME: {2: 'height', 3: 'width'}})
    elif not dynamo:
        kwargs = dict(dynamo=False)
    if not ONNX_DYNAMO_EXPORT:  # torch < 2.5: the TorchScript exporter, without the flag
        kwargs.pop('dynamo')
    folder = osp.dirname(osp.abspath(file))
    os.makedirs(folder, exist_ok=True)
    # the exporter writes a file of its own beside the target; the target is
    # replaced only by the finished model
    fd, traced = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(file)}.',
                                  suffix='.export')
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings(), _quiet_exporter_logs():
            warnings.simplefilter('ignore')
            try:
                program = torch.onnx.export(
                    wrapper, (example, ),
                    None if dynamo else traced,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    opset_version=opset,
                    verbose=False,
                    **kwargs)
            except Exception as exc:  # the exporter raises many types
                raise ExportError(f'torch.onnx.export failed for {type(model).__name__} at '
                                  f'{shape[0]} x {shape[1]} (dynamic={dynamic}): '
                                  f'{type(exc).__name__}: {_first_lines(exc)}') from exc
        onnx_model = program.model_proto if dynamo else onnx.load(traced)
    finally:
        os.remove(traced)
    if dynamic:
        dims = onnx_model.graph.input[0].type.tensor_type.shape.dim
        fixed = [i for i in (2, 3) if dims[i].HasField('dim_value')]
        if fixed:
            raise ExportError(f'the model specialises input axes {fixed} to their traced size, '
                              'so it cannot be exported with dynamic height and width')
    model.cfg = cfg
    meta = build_metadata(model, output, shape, dynamic)
    onnx.helper.set_model_props(onnx_model, meta)
    atomic_write_bytes(onnx_model.SerializeToString(), file)
    return meta


@contextlib.contextmanager
def _quiet_exporter_logs():
    """Silence torch's export loggers (progress lines, torchvision notices, traces of
    errors that are raised anyway) for the duration of an export."""
    loggers = [logging.getLogger(name) for name in ('torch.onnx', 'torch.export',
                                                    'torch._subclasses.fake_tensor',
                                                    'torch._dynamo', 'torch.fx')]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _first_lines(exc: Exception, lines: int = 12) -> str:
    text = str(exc).strip().splitlines()
    return '\n'.join(text[:lines]) + ('\n...' if len(text) > lines else '')


def _reference(model: nn.Module, inputs: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Logits and labels of mmseg's own ``predict`` (whole-image inference)."""
    from mmseg.structures import SegDataSample
    h, w = inputs.shape[2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0] * 4)
    samples = [SegDataSample(metainfo=meta) for _ in range(inputs.shape[0])]
    test_cfg = model.test_cfg
    model.test_cfg = ConfigDict(copy.deepcopy(dict(test_cfg or {})), mode='whole')
    try:
        with torch.no_grad():
            results = model.predict(inputs, samples)
    finally:
        model.test_cfg = test_cfg
    logits = torch.stack([r.seg_logits.data for r in results]).numpy()
    labels = torch.stack([r.pred_sem_seg.data[0] for r in results]).long().numpy()
    return logits, labels


def verify_onnx(onnx_file: str,
                model: nn.Module,
                shapes: Sequence[Sequence[int]],
                batch_size: int = 1,
                rtol: float = DEFAULT_RTOL,
                seed: int = 0) -> List[dict]:
    """Compare an exported model in ONNX Runtime with mmseg's own ``predict``.

    For every shape, random normalised inputs go through the ONNX model and
    through ``model.predict`` (whole-image inference, mmseg's resize and
    postprocessing). Logits must agree within ``rtol`` relative to the
    largest PyTorch logit (:func:`~mmseg_attn.analysis.relative_difference`); labels (argmax
    output) must equal PyTorch's wherever its two best logits differ by
    more than ``rtol`` times the largest logit (closer pairs are ties that
    float rounding may break either way; they are counted).

    Args:
        onnx_file (str): The exported model.
        model (nn.Module): The PyTorch segmentor it was exported from.
        shapes (Sequence[Sequence[int]]): ``(H, W)`` sizes to check.
        batch_size (int): Batch of the random input. Defaults to 1.
        rtol (float): Tolerance. Defaults to 1e-4.
        seed (int): Seed of the inputs. Defaults to 0.

    Returns:
        list[dict]: Per shape: ``shape``, ``output``, ``rel_diff`` (logits)
        or ``mismatches`` / ``ties`` (labels), and ``pixels``.

    Raises:
        ExportError: When ONNX Runtime fails or the outputs differ.
    """
    meta = read_metadata(onnx_file)
    output = meta.get('output', 'logits')
    session = create_session(onnx_file)
    model = model.eval()
    generator = torch.Generator().manual_seed(seed)
    reports = []
    for shape in shapes:
        shape = check_shape(tuple(shape))
        inputs = torch.randn(batch_size, 3, *shape, generator=generator)
        try:
            (got, ) = session.run(None, {INPUT_NAME: inputs.numpy()})
        except Exception as exc:  # onnxruntime raises its own types
            raise ExportError(f'ONNX Runtime failed on {onnx_file} at {shape[0]} x {shape[1]}: '
                              f'{_first_lines(exc)}') from exc
        logits, labels = _reference(model, inputs)
        report = dict(shape=shape, output=output, pixels=int(labels.size))
        if output == 'logits':
            report['rel_diff'] = relative_difference(got, logits)
            if got.shape != logits.shape or not report['rel_diff'] <= rtol:
                raise ExportError(
                    f'ONNX Runtime and PyTorch differ at {shape[0]} x {shape[1]}: relative '
                    f'difference {report["rel_diff"]:.3g} > {rtol:g} ({onnx_file})')
        else:
            if got.shape != labels.shape:
                raise ExportError(f'ONNX labels have shape {got.shape}, PyTorch {labels.shape}')
            if logits.shape[1] > 1:
                top2 = np.sort(logits, axis=1)[:, -2:]
                margin = top2[:, 1] - top2[:, 0]
                ties = margin <= rtol * max(np.abs(logits).max(), 1e-12)
            else:
                ties = np.zeros(labels.shape, dtype=bool)
            wrong = (got != labels) & ~ties
            report.update(mismatches=int(wrong.sum()), ties=int(ties.sum()),
                          differing_ties=int(((got != labels) & ties).sum()))
            if wrong.any():
                raise ExportError(
                    f'ONNX Runtime and PyTorch labels differ at {int(wrong.sum())} of '
                    f'{labels.size} pixels at {shape[0]} x {shape[1]} ({onnx_file})')
        reports.append(report)
    return reports
