# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Loading transforms that refuse bad samples with a message naming the file.

The stock loaders fail on bad data in ways that do not say which file is
bad, or do not fail at all:

- a corrupt image stops on an ``assert`` (which ``python -O`` removes);
- a corrupt label file stops with ``'NoneType' object has no attribute
  'squeeze'``;
- label values outside the class range train silently (or crash inside the
  loss, far from the file), 16-bit labels above 255 wrap around in the cast
  to ``uint8``;
- a label map of another size than its image is cropped and flipped with it
  as if it fitted;
- a label saved in a lossy format (a JPEG named ``.png``) passes: its values
  stay in range, but the compression has changed the class of the pixels
  around every edge.

:class:`LoadCheckedImageFromFile` and :class:`LoadCheckedAnnotations` are
drop-in replacements that check each of these and either raise
:class:`CorruptSampleError` naming the file and the problem
(``on_error='raise'``, the default) or skip the sample (``on_error='skip'``):
the transform returns None, mmengine's dataset draws another sample in its
place, and the file is logged and counted (:func:`skipped_samples`).
"""
import logging
import os.path as osp
import threading
from typing import Dict, Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from mmseg_attn.utils.image import LOSSLESS_NAMES, label_format_problem, truncation_problem

__all__ = [
    'CorruptSampleError', 'LoadCheckedAnnotations', 'LoadCheckedImageFromFile',
    'reset_skipped_samples', 'skipped_samples'
]

ON_ERROR = ('raise', 'skip')

_HINT = ('List every bad file of a dataset with '
         '`python tools/analysis_tools/check_dataset.py CONFIG`; '
         "on_error='skip' in the loading transforms of a training pipeline skips bad samples.")

_skipped: Dict[str, str] = {}
_skipped_lock = threading.Lock()


class CorruptSampleError(ValueError):
    """A sample's image or label file is missing, unreadable or inconsistent.

    Attributes:
        path (str): The file at fault.
        problem (str): What is wrong with it.
    """

    def __init__(self, message: str, path: Optional[str] = None,
                 problem: Optional[str] = None):
        super().__init__(message)
        self.path = path
        self.problem = problem

    def __reduce__(self):  # keep path and problem across processes
        return type(self), (str(self), self.path, self.problem)


class _Skip(Exception):
    """Internal: the sample was skipped."""


def skipped_samples() -> Dict[str, str]:
    """Files skipped by ``on_error='skip'`` in this process: ``{path: problem}``.

    Each dataloader worker is a process of its own and counts its own skips;
    every skip is also logged as a warning naming the file.
    """
    with _skipped_lock:
        return dict(_skipped)


def reset_skipped_samples() -> None:
    """Forget the skipped files recorded in this process."""
    with _skipped_lock:
        _skipped.clear()


def _check_on_error(on_error) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f'on_error must be one of {ON_ERROR}, got {on_error!r}')
    return on_error


def _fail(on_error: str, path: str, problem: str):
    if on_error == 'raise':
        raise CorruptSampleError(f'{problem}: {path!r}. {_HINT}', path, problem)
    with _skipped_lock:
        _skipped[path] = problem
        count = len(_skipped)
    print_log(f'Skipped a sample: {problem}: {path!r} ({count} file(s) skipped so far in '
              'this process)', logger='current', level=logging.WARNING)
    raise _Skip


def _read_bytes(path: str, kind: str, on_error: str, backend_args: Optional[dict],
                file_client_args: Optional[dict] = None) -> bytes:
    try:
        if file_client_args is not None:
            client = fileio.FileClient.infer_client(file_client_args, path)
            data = client.get(path)
        else:
            data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        _fail(on_error, path, f'{kind} file does not exist')
    except Exception as e:  # permission denied, a folder, a backend error, ...
        _fail(on_error, path, f'{kind} file could not be read ({type(e).__name__}: {e})')
    if not data:
        _fail(on_error, path, f'{kind} file is empty')
    return data


def _decode(data: bytes, path: str, kind: str, on_error: str, **kwargs) -> np.ndarray:
    try:
        array = mmcv.imfrombytes(data, **kwargs)
    except Exception as e:  # pillow raises, cv2 returns None
        array, error = None, f' ({type(e).__name__})'
    else:
        error = ''
    if array is None or array.size == 0:
        cut = truncation_problem(data)
        why = f': it {cut}' if cut else f': it cannot be decoded as an image{error}'
        _fail(on_error, path, f'{kind} file is corrupt{why}')
    return array


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that names the file of a missing or corrupt image.

    Accepts every argument of :class:`mmcv.transforms.LoadImageFromFile`.
    ``ignore_empty=True`` means ``on_error='skip'``.

    Args:
        on_error (str): ``'raise'``: raise :class:`CorruptSampleError` naming
            the file and the problem; ``'skip'``: log and count the file
            (:func:`skipped_samples`) and return None, so that mmengine's
            dataset puts another sample in its place. Use ``'skip'`` in
            training pipelines only: in an evaluation pipeline the dataset
            would evaluate another image in place of the bad one.
            Defaults to 'raise'.
        **kwargs: Arguments of :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def __init__(self, on_error: str = 'raise', **kwargs) -> None:
        super().__init__(**kwargs)
        self.on_error = 'skip' if self.ignore_empty else _check_on_error(on_error)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            data = _read_bytes(path, 'image', self.on_error, self.backend_args,
                               self.file_client_args)
            img = _decode(data, path, 'image', self.on_error, flag=self.color_type,
                          backend=self.imdecode_backend)
            problem = truncation_problem(data)
            if problem:  # a truncated file decodes into a partly grey picture
                _fail(self.on_error, path, f'image file {problem}')
        except _Skip:
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", on_error='{self.on_error}')"


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that checks every label map it loads.

    On top of what :class:`mmseg.datasets.transforms.LoadAnnotations` does
    (``reduce_zero_label``, the dataset's ``label_map``), it refuses:

    - a label file that is missing, empty or cannot be decoded;
    - a label file whose bytes are not a lossless image format
      (:func:`label_format_problem`: a JPEG named ``.png`` is refused);
    - a label with several different channels (a colour-coded label image
      instead of a map of class indices);
    - label values that do not fit ``uint8`` (16-bit files), which the stock
      loader wraps around silently;
    - a label map whose height and width differ from the image's (when the
      image was loaded before, even if a ``Resize`` came in between: the
      image's ``ori_shape`` is compared);
    - with ``num_classes`` given: values, after ``reduce_zero_label`` and
      ``label_map``, that are neither a class index ``0..num_classes - 1``
      nor ``ignore_index``;
    - a dataset sample without a ``seg_map_path`` (a dataset whose config
      names no label folder).

    A dict that is not a dataset sample (no ``seg_map_path`` and no
    ``reduce_zero_label``: an image given to mmseg's ``inference_model``,
    which removes a ``LoadAnnotations`` step by that name only) passes
    through unchanged.

    Args:
        num_classes (int, optional): Number of classes of the dataset; None
            skips the range check. Defaults to None.
        ignore_index (int): The label value that the loss ignores.
            Defaults to 255.
        on_error (str): ``'raise'`` or ``'skip'``, as in
            :class:`LoadCheckedImageFromFile`. Defaults to 'raise'.
        reduce_zero_label (bool, optional): As in mmseg's
            ``LoadAnnotations``. Defaults to None.
        backend_args (dict, optional): As in mmseg's ``LoadAnnotations``.
            Defaults to None.
        imdecode_backend (str): As in mmseg's ``LoadAnnotations``.
            Defaults to 'pillow'.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 on_error: str = 'raise',
                 reduce_zero_label=None,
                 backend_args=None,
                 imdecode_backend: str = 'pillow') -> None:
        super().__init__(reduce_zero_label=reduce_zero_label, backend_args=backend_args,
                         imdecode_backend=imdecode_backend)
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f'num_classes must be None or a positive int, got {num_classes!r}')
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f'ignore_index must be an int, got {ignore_index!r}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.on_error = _check_on_error(on_error)

    def transform(self, results: dict) -> Optional[dict]:
        if 'seg_map_path' not in results:
            if 'reduce_zero_label' not in results:
                # not a dataset sample: an image given to mmseg's inference
                # helpers, which drop a 'LoadAnnotations' step by that name only
                return results
            raise KeyError(
                f'{type(self).__name__}: the dataset gives no label map for image '
                f'{results.get("img_path")!r}; set data_prefix=dict(seg_map_path=...) in its '
                'config, or leave this step out of a pipeline for images without labels')
        try:
            self._load_seg_map(results)
        except _Skip:
            return None
        return results

    def _read_label(self, path: str) -> np.ndarray:
        data = _read_bytes(path, 'label', self.on_error, self.backend_args)
        label = _decode(data, path, 'label', self.on_error, flag='unchanged',
                        backend=self.imdecode_backend)
        lossy = label_format_problem(data)
        if lossy:
            ext = osp.splitext(path)[1]
            named = f', although it is named {ext}' if ext.lower() in (
                '.png', '.bmp', '.gif', '.tif', '.tiff', '.pgm', '.ppm', '.pbm') else ''
            _fail(self.on_error, path,
                  f'label file is {lossy}{named}: lossy compression changes the class of the '
                  f'pixels around edges; save label maps as {LOSSLESS_NAMES}')
        if label.ndim == 3:
            if label.shape[2] == 1 or (label == label[..., :1]).all():
                label = label[..., 0]
            else:
                _fail(self.on_error, path,
                      f'label file has {label.shape[2]} different channels; a label must be a '
                      'single-channel map of class indices (is it a colour-coded image?)')
        if label.ndim != 2:
            _fail(self.on_error, path, f'label file holds an array of shape {label.shape}, '
                  'not a (height, width) map of class indices')
        if label.dtype != np.uint8:
            low, high = label.min(), label.max()
            if low < 0 or high > 255:
                _fail(self.on_error, path,
                      f'label file holds values from {low} to {high} ({label.dtype}), which do '
                      'not fit the 0..255 of a label map')
            label = label.astype(np.uint8)
        return label

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        label = self._read_label(path)
        shape = results.get('ori_shape')
        if shape is not None and tuple(label.shape) != tuple(shape[:2]):
            _fail(self.on_error, path,
                  f'label file is {label.shape[0]}x{label.shape[1]} (height x width) but its '
                  f'image {results.get("img_path")!r} is {shape[0]}x{shape[1]}')

        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        if self.reduce_zero_label != results['reduce_zero_label']:
            raise ValueError(
                f'the dataset is built with reduce_zero_label={results["reduce_zero_label"]} '
                f'but {type(self).__name__} with reduce_zero_label={self.reduce_zero_label}')
        if self.reduce_zero_label:
            label[label == 0] = 255
            label = label - 1
            label[label == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            original = label.copy()
            for old_id, new_id in label_map.items():
                label[original == old_id] = new_id

        if self.num_classes is not None:
            bad = (label >= self.num_classes) & (label != self.ignore_index)
            if bad.any():
                values = np.unique(label[bad]).tolist()
                shown = ', '.join(map(str, values[:10])) + (', ...' if len(values) > 10 else '')
                steps = [name for name, on in (('reduce_zero_label', self.reduce_zero_label),
                                               ('label_map', label_map)) if on]
                after = f' (after {" and ".join(steps)})' if steps else ''
                _fail(self.on_error, path,
                      f'label file holds values {shown}{after} outside the class indices '
                      f'0..{self.num_classes - 1} and the ignore_index {self.ignore_index} '
                      f'in {int(bad.sum())} pixels (raw ids such as Cityscapes\' *_labelIds.png '
                      'instead of train ids give this)')
        results['gt_seg_map'] = label
        results['seg_fields'].append('gt_seg_map')

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', num_classes={self.num_classes}, '
                f"ignore_index={self.ignore_index}, on_error='{self.on_error}')")
