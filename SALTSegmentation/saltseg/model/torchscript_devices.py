"""What tracing bakes into a TorchScript graph, and how to move it to another device.

``torch.jit.trace`` records ``x.device`` as a literal: every ``torch.zeros(..., device=x.device)``
or ``torch.as_tensor(..., device=x.device)`` in the traced code becomes
``prim::Constant[value="cuda:0"]`` (a ``Device`` constant), and ``torch.jit.freeze`` /
``optimize_for_inference`` (which SALT's export uses) also turns every weight and buffer into a
tensor constant on the tracing device. ``torch.jit.load(map_location=...)`` moves tensor constants
but not ``Device`` literals, so a model traced on CUDA would try to allocate on CUDA on a CPU-only
machine, and one traced on the CPU would mix devices on a GPU. This module finds those literals and
rewrites them to the target device before the first call (the executor caches its plan on the first
call). Operators that only exist on one backend (cuDNN fusions from ``optimize_for_inference`` on
CUDA, MKL-DNN layouts on the CPU) cannot be rewritten; they are reported as a
:class:`~saltseg.errors.DeviceError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch

from ..errors import DeviceError

_CUDA_ONLY_PREFIXES = ("aten::cudnn_", "aten::miopen_", "prim::CudaFusionGroup", "prim::FusionGroup")
_CPU_ONLY_PREFIXES = ("aten::to_mkldnn", "aten::mkldnn_", "prim::MKLDNN", "prim::ConvertToMKLDNN")


@dataclass
class GraphDeviceReport:
    """Devices and backend-specific operators found in a TorchScript module's graphs."""

    device_literals: set[str] = field(default_factory=set)
    constant_tensor_devices: set[str] = field(default_factory=set)
    cuda_only_ops: set[str] = field(default_factory=set)
    cpu_only_ops: set[str] = field(default_factory=set)


def _graphs(module: torch.jit.ScriptModule) -> Iterator[torch._C.Graph]:
    for submodule in module.modules():
        for method in ("forward",):
            try:
                yield getattr(submodule, method).graph
            except (AttributeError, RuntimeError):
                continue


def _nodes(block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _nodes(sub)


def _device_constants(module: torch.jit.ScriptModule) -> Iterator[torch._C.Node]:
    for graph in _graphs(module):
        for node in _nodes(graph):
            if node.kind() == "prim::Constant" and node.output().type().kind() == "DeviceObjType":
                yield node


def inspect_graph(module: torch.jit.ScriptModule) -> GraphDeviceReport:
    report = GraphDeviceReport()
    for graph in _graphs(module):
        for node in _nodes(graph):
            kind = node.kind()
            if kind == "prim::Constant" and node.hasAttribute("value"):
                if node.kindOf("value") == "t":
                    report.constant_tensor_devices.add(str(node.t("value").device))
                elif node.output().type().kind() == "DeviceObjType":
                    report.device_literals.add(node.s("value"))
            if kind.startswith(_CUDA_ONLY_PREFIXES):
                report.cuda_only_ops.add(kind)
            if kind.startswith(_CPU_ONLY_PREFIXES):
                report.cpu_only_ops.add(kind)
    return report


def retarget_device_literals(module: torch.jit.ScriptModule, device: torch.device) -> int:
    """Rewrite every ``Device`` constant to ``device``; returns how many were changed.

    Must run before the module's first call.
    """
    target = str(device)
    changed = 0
    for node in _device_constants(module):
        if node.s("value") != target:
            node.s_("value", target)
            changed += 1
    return changed


def check_runnable_on(report: GraphDeviceReport, device: torch.device) -> None:
    if device.type != "cuda" and report.cuda_only_ops:
        raise DeviceError(
            "this model.pt was optimised for CUDA and contains CUDA-only operators "
            f"({', '.join(sorted(report.cuda_only_ops))}); it cannot run on {device.type}. "
            "Run it on a CUDA GPU, or re-export it with trace + torch.jit.freeze (no "
            "optimize_for_inference)."
        )
    if device.type != "cpu" and report.cpu_only_ops:
        raise DeviceError(
            "this model.pt was optimised for the CPU (MKL-DNN operators: "
            f"{', '.join(sorted(report.cpu_only_ops))}); it cannot run on {device.type}. "
            "Run it on the CPU device (--device cpu), or re-export it with trace + torch.jit.freeze."
        )
