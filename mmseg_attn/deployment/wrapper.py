# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The graph that is exported: a segmentor as ``image tensor -> logits | labels``.

mmseg's ``EncoderDecoder.predict`` runs ``extract_feat``, the decode head,
``predict_by_feat`` (a bilinear resize of the logits to the input size with
the head's ``align_corners``) and ``postprocess_result`` (removal of the
padding and a resize to the original image size, an identity when the input
is the image). :class:`SegmentorExportWrapper` computes exactly that for an
input that is already normalised, so an exported model gives what
``model.predict`` gives for an image of the input's size.
"""
import copy
from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

__all__ = [
    'ExportError', 'ExportableAdaptiveAvgPool2d', 'ExportableUpsample', 'OUTPUT_TYPES',
    'SegmentorExportWrapper', 'prepare_for_export', 'replace_adaptive_pools',
    'replace_upsamples'
]

class ExportError(RuntimeError):
    """A model, shape or exported file that cannot be exported or verified."""


#: What an exported model returns: the resized logits or the int64 labels.
OUTPUT_TYPES = ('logits', 'argmax')


def _bin_matrix(length, out: int, like: Tensor) -> Tensor:
    """``(out, length)`` averaging matrix of adaptive pooling along one axis.

    Bin ``i`` covers ``[floor(i * L / out), ceil((i + 1) * L / out))``, the
    bins of :func:`torch.nn.functional.adaptive_avg_pool2d`.
    """
    idx = torch.arange(out, device=like.device)
    start = torch.div(idx * length, out, rounding_mode='floor')
    end = torch.div((idx + 1) * length + out - 1, out, rounding_mode='floor')
    pos = torch.arange(length, device=like.device)
    mask = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return mask.to(like.dtype) / (end - start).to(like.dtype)[:, None]


class ExportableAdaptiveAvgPool2d(nn.Module):
    """Adaptive average pooling written with two averaging matrices.

    ``y = A_h x A_w^T`` where ``A_h`` (``(out_h, H)``) and ``A_w``
    (``(out_w, W)``) average the bins of
    :class:`torch.nn.AdaptiveAvgPool2d`; the matrices are built from the
    input's size inside the graph. The result equals the pooling for every
    input size (up to the order of the float sums), while an exporter turns
    ``AdaptiveAvgPool2d`` into an ``AveragePool`` whose kernel and stride
    were computed for the traced size, or refuses output sizes that do not
    divide the input (PSPNet's bins 2, 3 and 6).

    Args:
        output_size (int | tuple[int, int]): The output size; ``None`` in a
            pair keeps that axis.
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]]):
        super().__init__()
        self.output_size = _pair(output_size)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, out_h, out_w)``."""
        h, w = x.shape[-2:]
        out_h, out_w = self.output_size
        if out_h is not None:
            x = torch.matmul(_bin_matrix(h, out_h, x), x)
        if out_w is not None:
            x = torch.matmul(x, _bin_matrix(w, out_w, x).t())
        return x


def _replace_children(model: nn.Module, replacement) -> int:
    """Replace, in place, every submodule for which ``replacement(child)`` is not None.

    Returns:
        int: The number of modules replaced.
    """
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            new = replacement(child)
            if new is not None:
                setattr(module, name, new)
                count += 1
    return count


def replace_adaptive_pools(model: nn.Module) -> int:
    """Replace the ``nn.AdaptiveAvgPool2d`` modules of ``model`` in place.

    Pools to ``1 x 1`` are kept (they export as ``GlobalAveragePool``, right
    for every size); every other one becomes an
    :class:`ExportableAdaptiveAvgPool2d`.

    Args:
        model (nn.Module): The model, changed in place.

    Returns:
        int: The number of pools replaced.
    """
    return _replace_children(
        model, lambda child: ExportableAdaptiveAvgPool2d(child.output_size)
        if isinstance(child, nn.AdaptiveAvgPool2d) and _pair(child.output_size) != (1, 1)
        else None)


class ExportableUpsample(nn.Module):
    """mmseg's ``Upsample`` by an integer factor, as ``F.interpolate(scale_factor=s)``.

    mmseg's :class:`~mmseg.models.utils.Upsample` computes the output size in
    Python (``int(h * s)``), which a tracing exporter records as a constant:
    an export with dynamic height and width then resizes every input to the
    traced size (HRNet's fuse layers, FPNHead). With an integer factor,
    ``F.interpolate(x, scale_factor=s)`` gives the same size
    (``floor(h * s)``) and the same sampling (``in / out == 1 / s``) and
    exports as a ``Resize`` by ``s``, right for every size.

    Args:
        scale_factor (float | tuple[float, float]): Integer-valued factors.
        mode (str): Interpolation mode.
        align_corners (bool, optional): As in ``F.interpolate``.
    """

    def __init__(self, scale_factor, mode: str = 'nearest', align_corners=None):
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, s * H, s * W)``."""
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode,
                             align_corners=self.align_corners)


def _integer_factor(scale_factor) -> bool:
    factors = scale_factor if isinstance(scale_factor, tuple) else (scale_factor, )
    return all(f is not None and float(f) >= 1 and float(f).is_integer() for f in factors)


def replace_upsamples(model: nn.Module) -> int:
    """Replace mmseg ``Upsample`` modules by an integer factor with :class:`ExportableUpsample`.

    Modules with a fixed ``size`` or a fractional factor are kept.

    Args:
        model (nn.Module): The model, changed in place.

    Returns:
        int: The number of modules replaced.
    """
    from mmseg.models.utils import Upsample
    return _replace_children(
        model, lambda child: ExportableUpsample(child.scale_factor, child.mode,
                                                child.align_corners)
        if type(child) is Upsample and not child.size and _integer_factor(child.scale_factor)
        else None)


def prepare_for_export(model: nn.Module) -> dict:
    """Apply the export-friendly rewrites in place (same results for every input size).

    :func:`replace_adaptive_pools` and :func:`replace_upsamples`.

    Returns:
        dict: ``{'adaptive_pools': n, 'upsamples': m}`` replaced.
    """
    return dict(adaptive_pools=replace_adaptive_pools(model),
                upsamples=replace_upsamples(model))


def _check_segmentor(segmentor: nn.Module) -> None:
    from mmseg.models.segmentors import EncoderDecoder
    name = type(segmentor).__name__
    if not isinstance(segmentor, EncoderDecoder):
        raise ExportError(f'only mmseg EncoderDecoder segmentors (one decode head) can be '
                          f'exported, got a {name}')
    if type(segmentor).encode_decode is not EncoderDecoder.encode_decode \
            or isinstance(segmentor.decode_head, nn.ModuleList):
        raise ExportError(f'{name} runs several decode heads (e.g. a cascade); only mmseg '
                          'EncoderDecoder segmentors with one decode head can be exported')


class SegmentorExportWrapper(nn.Module):
    """An mmseg segmentor as ``(N, 3, H, W) -> (N, K, H, W) | (N, H, W)``.

    The input is the normalised float tensor that the segmentor's
    ``SegDataPreProcessor`` produces (channel order, mean and std of the
    config applied). The output is

    - ``'logits'``: the decode head's logits resized to ``(H, W)`` with
      bilinear interpolation and the head's ``align_corners``, as
      ``EncoderDecoder.predict`` returns them in ``seg_logits``;
    - ``'argmax'``: the int64 labels ``(N, H, W)`` of ``pred_sem_seg``
      (for a head with one output channel, ``sigmoid(logits) > threshold``
      as mmseg's ``postprocess_result``).

    The test config's ``mode='slide'`` is not part of the graph: the
    exported model runs the whole input at once.

    Args:
        segmentor (nn.Module): An mmseg ``EncoderDecoder`` (eval mode).
        output (str): 'logits' or 'argmax'. Defaults to 'logits'.
        copy_model (bool): Keep the segmentor untouched by wrapping a deep
            copy. Defaults to False.
    """

    def __init__(self, segmentor: nn.Module, output: str = 'logits', copy_model: bool = False):
        super().__init__()
        if output not in OUTPUT_TYPES:
            raise ValueError(f'output must be one of {OUTPUT_TYPES}, got {output!r}')
        _check_segmentor(segmentor)
        self.segmentor = copy.deepcopy(segmentor) if copy_model else segmentor
        self.output = output

    def forward(self, inputs: Tensor) -> Tensor:
        """Forward function.

        Args:
            inputs (Tensor): Normalised images ``(N, 3, H, W)``.

        Returns:
            Tensor: ``(N, K, H, W)`` float logits or ``(N, H, W)`` int64
            labels.
        """
        head = self.segmentor.decode_head
        logits = head.forward(self.segmentor.extract_feat(inputs))
        logits = F.interpolate(logits, size=inputs.shape[2:], mode='bilinear',
                               align_corners=head.align_corners)
        if self.output == 'logits':
            return logits
        if logits.shape[1] == 1:
            return (logits.sigmoid() > head.threshold).to(torch.int64).squeeze(1)
        return logits.argmax(dim=1)
