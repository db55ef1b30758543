# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The accuracy of a deployed model on a dataset, measured as ``tools/test.py`` measures it.

:func:`deployed_segmentor` gives the segmentor of a config whose forward is
the deployed model: an ``.onnx`` file (fp32 or quantized, run in ONNX
Runtime: the segmentor's ``encode_decode`` is the graph) or a checkpoint (the
PyTorch fast path at a precision). Everything around that forward stays
mmseg's: :func:`evaluate` runs mmengine's test loop on the config's test
dataloader and evaluator (mmseg's ``IoUMetric`` or whatever the config
names), with the config's data preprocessor and its whole-image or
sliding-window inference and resize to the original size, so the table and
the ``mIoU`` line are those of ``tools/test.py``.
"""
import os.path as osp
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from mmseg_attn.apis import build_segmentor
from mmseg_attn.utils.config import load_config

from .metadata import OnnxModelError, read_metadata, validate_metadata
from .optimize import optimize_for_inference
from .runtime import OrtSegmentor

__all__ = ['ProgressBarHook', 'deployed_segmentor', 'evaluate']


class ProgressBarHook(Hook):
    """A progress bar over the test loop's batches."""

    priority = 'VERY_LOW'

    def before_test_epoch(self, runner) -> None:
        self.bar = ProgressBar(len(runner.test_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.bar.update()


def _onnx_encode_decode(model: nn.Module, onnx_file: str, num_threads: Optional[int]):
    """``model.encode_decode`` as one ONNX Runtime run of ``onnx_file``."""
    ort = OrtSegmentor(onnx_file, num_threads)
    meta = validate_metadata(read_metadata(onnx_file), onnx_file, ort.session)
    pre = model.data_preprocessor
    for key in ('mean', 'std'):
        ours = getattr(pre, key, None)
        if ours is not None and not np.allclose(ours.flatten().tolist(), meta[key]):
            raise OnnxModelError(f'metadata key {key!r} of {onnx_file!r}: {meta[key]} is not '
                                 f"the config's {ours.flatten().tolist()}: the model was "
                                 'exported from another config')
    num_classes = model.decode_head.num_classes

    def encode_decode(inputs: torch.Tensor, batch_img_metas) -> torch.Tensor:
        size = tuple(inputs.shape[2:])
        if not meta['dynamic_shape'] and size != tuple(meta['export_shape']):
            h, w = meta['export_shape']
            raise OnnxModelError(
                f'{onnx_file!r} takes {h} x {w} inputs only (exported without '
                f'--dynamic-export), and the test pipeline of the config gives {size[0]} x '
                f'{size[1]}: export it with --dynamic-export, or at this size, or set the '
                f"config's test_cfg to mode='slide' with crop_size=({h}, {w})")
        out = torch.from_numpy(ort(inputs.float()))
        if meta['output'] == 'argmax':  # labels: one-hot scores for mmseg's resize
            out = torch.nn.functional.one_hot(out.long(), num_classes).permute(0, 3, 1, 2)
        return out.float().to(inputs.device)

    return encode_decode


def deployed_segmentor(cfg, model_file: str, precision: str = 'fp32', device: str = 'cpu',
                       num_threads: Optional[int] = None) -> nn.Module:
    """The config's segmentor running the deployed model.

    Args:
        cfg (str | Config): The config.
        model_file (str): An ``.onnx`` file (run in ONNX Runtime, on the CPU;
            ``precision`` is the file's) or a checkpoint (the PyTorch fast
            path: BN folded, channels-last, at ``precision``).
        precision (str): ``'fp32'``, ``'bf16'`` or ``'fp16'`` for a
            checkpoint. Defaults to 'fp32'.
        device (str): ``'cpu'`` or ``'cuda'`` for a checkpoint.
            Defaults to 'cpu'.
        num_threads (int, optional): ONNX Runtime's threads. Defaults to None.
    """
    cfg = load_config(cfg)
    if str(model_file).endswith('.onnx'):
        if precision != 'fp32' or device != 'cpu':
            raise ValueError(f'an .onnx model runs as it was exported (in ONNX Runtime on the '
                             f'CPU): --precision {precision} and --device {device} are for a '
                             'checkpoint')
        if not osp.isfile(model_file):
            raise FileNotFoundError(f'ONNX model {model_file!r} does not exist')
        model = build_segmentor(cfg)  # the structure around the graph; its weights are unused
        model.encode_decode = _onnx_encode_decode(model, model_file, num_threads)
        return model
    model = build_segmentor(cfg, model_file, device)
    return optimize_for_inference(model, fuse_conv_bn=True, channels_last=True,
                                  precision=precision)


def evaluate(cfg, model: nn.Module, work_dir: str, progress: bool = True) -> dict:
    """Run mmengine's test loop of the config on ``model``: the metrics of
    ``tools/test.py`` (logged as it logs them).

    Args:
        cfg (str | Config): The config (its test dataloader, evaluator,
            test_cfg, hooks and logging).
        model (nn.Module): The segmentor, e.g. from :func:`deployed_segmentor`.
        work_dir (str): Where the logs go.
        progress (bool): Show a progress bar. Defaults to True.
    """
    cfg = load_config(cfg)
    cfg.test_dataloader.batch_size = 1  # an exported graph's batch is fixed
    runner = Runner(
        model=model,
        work_dir=work_dir,
        test_dataloader=cfg.test_dataloader,
        test_cfg=cfg.get('test_cfg', dict(type='TestLoop')),
        test_evaluator=cfg.test_evaluator,
        default_hooks=cfg.get('default_hooks'),
        custom_hooks=[ProgressBarHook()] if progress else None,
        env_cfg=cfg.get('env_cfg', dict()),
        log_processor=cfg.get('log_processor'),
        log_level=cfg.get('log_level', 'INFO'),
        default_scope=cfg.get('default_scope', 'mmseg'),
        cfg=cfg)
    return runner.test()
