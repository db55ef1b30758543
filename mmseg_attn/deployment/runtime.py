# Copyright (c) mmseg_attn contributors. All rights reserved.
"""ONNX Runtime: the one place where this package creates and runs sessions."""
import os.path as osp
from typing import List, Optional, Union

import numpy as np
import torch

__all__ = ['OrtSegmentor', 'create_session']


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
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file {onnx_file!r} does not exist')
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if num_threads:
        options.intra_op_num_threads = num_threads
    return ort.InferenceSession(onnx_file, options,
                                providers=providers or ['CPUExecutionProvider'])


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
