"""The OpenVINO runtime for the network's logits, on the CPU.

ONNX Runtime was measured side by side and dropped: on the full architecture (one 192×192×48
window, 2 threads, same run) OpenVINO took 18.5 s, ONNX Runtime 34.4 s and torch 34.2 s
(``benchmarks/backend_table.py``); the rule was to keep one runtime unless another is > 15 % faster.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .onnx_file import INPUT_NAME

#: The pip extra that installs each runtime.
EXTRAS = {"openvino": "openvino"}


def is_installed(name: str) -> bool:
    """The runtime and the ``onnx`` package torch's exporter needs."""
    return all(importlib.util.find_spec(module) is not None for module in (name, "onnx"))


class OpenVinoNetwork:
    name = "openvino"

    def __init__(self, onnx_path: Path, threads: int) -> None:
        import openvino

        core = openvino.Core()
        # f32: on CPUs with bf16/AMX OpenVINO would otherwise lower precision on its own.
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                  "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        self.request = self.compiled.create_infer_request()

    def run(self, windows: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(windows.detach().cpu().numpy(), dtype=np.float32)
        # share_outputs: the request's own output buffer, not a second N-channel copy of it. Valid
        # until the next run(), and the sliding window is done with a batch before the next one.
        result = self.request.infer({0: array}, share_outputs=True)
        return torch.from_numpy(result[0])


RUNTIMES = {"openvino": OpenVinoNetwork}
