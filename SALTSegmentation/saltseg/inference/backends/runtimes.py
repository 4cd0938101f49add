"""The runtimes that can run the network cut out of ``model.pt`` on the CPU, and at which precision.

* OpenVINO (optional, ``saltseg[openvino]``): the cut converted to ONNX once per model.
* torch at bfloat16 (:class:`TorchBf16Network`): torch's CPU autocast around the cut. torch at
  float32 is not listed: it is the reference every runtime is checked against, and the fallback.

ONNX Runtime was measured side by side and dropped: on the full architecture (one 192×192×48
window, 2 threads, same run) OpenVINO took 18.5 s, ONNX Runtime 34.4 s and torch 34.2 s
(``benchmarks/backend_table.py``); the rule was to keep one runtime unless another is > 15 % faster.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
import numpy as np
import torch

from ...model.logits import LogitsFunction
from ...privacy import switch_off_telemetry

logger = logging.getLogger(__name__)

#: The pip extra that installs each runtime.
EXTRAS = {"openvino": "openvino"}
#: OpenVINO's name of each precision.
_OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def is_installed(name: str) -> bool:
    """The runtime and the ``onnx`` package torch's exporter needs (installed since this process
    started counts too: the Slicer module installs it while its engine process may be running)."""
    importlib.invalidate_caches()
    return all(importlib.util.find_spec(module) is not None for module in (name, "onnx"))


class OpenVinoNetwork:
    """The network on OpenVINO's CPU plugin. Its output is a request's own buffer, valid until the
    run after next: the sliding window reduces it in place while the next window runs."""

    name = "openvino"

    def __init__(self, onnx_path: Path, threads: int, precision: str = "fp32") -> None:
        switch_off_telemetry()  # before the import: it is the import that reports home
        import openvino

        core = openvino.Core()
        # The hint is always given: on CPUs with bf16/AMX OpenVINO would otherwise lower the
        # precision on its own; on CPUs without bf16 it runs f32 whatever is asked.
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[precision],
                  "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        # Two requests taking turns: each run's output (the request's own buffer) outlives the next run.
        self.requests = [self.compiled.create_infer_request() for _ in range(2)]
        self.turn = 0
        self.precision = _precision_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        if self.precision != precision:
            logger.warning("OpenVINO runs %s here: this CPU has no %s arithmetic", self.precision, precision)

    def run(self, windows: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(windows.detach().cpu().numpy(), dtype=np.float32)
        request = self.requests[self.turn]
        self.turn = (self.turn + 1) % len(self.requests)
        # share_outputs: the request's own output buffer, not a copy of it. Valid until that
        # request runs again: the run after next.
        result = request.infer({0: array}, share_outputs=True)
        return torch.from_numpy(result[0])


def _precision_name(value) -> str:
    """OpenVINO's element type (``<Type: 'bfloat16'>``, ``bf16``, ...) as this module names it."""
    text = str(value).lower()
    if "bf16" in text or "bfloat16" in text:
        return "bf16"
    return "fp16" if "f16" in text or "float16" in text else "fp32"


class TorchBf16Network:
    """The torch cut under CPU autocast to bfloat16 (convolutions in bf16, output bf16)."""

    name = "torch"
    precision = "bf16"

    def __init__(self, function: LogitsFunction) -> None:
        self.function = function

    def run(self, windows: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.function(windows)


#: The runtimes that run the cut converted to ONNX: name → class(onnx_path, threads, precision).
RUNTIMES = {"openvino": OpenVinoNetwork}
