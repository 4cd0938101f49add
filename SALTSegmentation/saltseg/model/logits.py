"""The network inside ``model.pt``, without the tree softmax it ends with.

SALT exports ``Sequential(DynUNet, TreeSoftmax)`` traced and frozen, so ``model.pt`` is one flat
TorchScript graph: the network's convolutions, then the tree softmax's selects, exps, sums and
products. Running it whole makes the tree softmax allocate several full-window ``N``-channel
tensors (for a small network it costs more than the network). This module cuts the graph so the
engine can apply the tree softmax itself, chunk by chunk:

* before the last convolution when it is pointwise (DynUNet's output block): the graph returns
  the ``C`` feature channels (32 for SALT's DynUNet instead of 145 logits) and the convolution's
  weights are applied per chunk (:func:`extract_features_and_head`);
* otherwise after the last convolution: the graph returns the ``N`` logits
  (:func:`extract_logits_function`).

The cut is a guess about the graph's shape, so it is only ever used after
:func:`saltseg.inference.window_network` has checked it numerically against the whole model;
graphs without a convolution (or whose cut does not reproduce the model) are run whole.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch

logger = logging.getLogger(__name__)

_CONVOLUTIONS = ("aten::_convolution", "aten::conv3d", "aten::convolution", "aten::mkldnn_convolution",
                 "aten::cudnn_convolution", "aten::miopen_convolution")

LogitsFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PointwiseHead:
    """The network's last convolution when it is pointwise: ``logits = weight @ features + bias``."""

    weight: torch.Tensor  # [N, C]
    bias: torch.Tensor  # [N]

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, C, *roi]`` → ``[B, N, *roi]`` (for checks on small probes, not for windows)."""
        weight = self.weight.to(features.device, torch.float32)
        bias = self.bias.to(features.device, torch.float32)
        flat = features.float().reshape(features.shape[0], features.shape[1], -1)
        out = torch.matmul(weight, flat).add_(bias.view(1, -1, 1))
        return out.reshape(features.shape[0], -1, *features.shape[2:])


def _last_convolution(graph: torch._C.Graph) -> Optional[torch._C.Node]:
    last = None
    for node in graph.nodes():  # top-level nodes in execution order
        if node.kind() in _CONVOLUTIONS or node.kind().startswith("prim::mkldnn_convolution"):
            last = node
    return last


def _cut_function(module: torch.nn.Module, name: str,
                  output: Callable[[torch._C.Node], Optional[torch._C.Value]]) -> Optional[LogitsFunction]:
    """A function of ``module``'s input returning ``output(last convolution)``, every node after that
    value destroyed; None when the graph does not have that shape."""
    try:
        # a TorchScript method has a graph; torch's stubs type ``forward`` as a plain callable
        graph = module.forward.graph.copy()  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return None
    inputs = list(graph.inputs())
    if len(inputs) != 2 or inputs[0].uses():  # (self, x), self unused once frozen
        return None
    last = _last_convolution(graph)
    if last is None:
        return None
    value = output(last)
    if value is None:
        return None
    nodes = list(graph.nodes())
    produced_at = nodes.index(value.node()) if value.node() in nodes else -1
    graph.return_node().replaceInput(0, value)
    for node in reversed(nodes[produced_at + 1:]):  # the tree softmax (and the head): unused now
        if any(output.uses() for output in node.outputs()):
            return None
        node.destroy()
    torch._C._jit_pass_dce(graph)
    graph.eraseInput(0)
    try:
        return torch._C._create_function_from_graph(name, graph)
    except RuntimeError as error:
        logger.info("cannot build a function from model.pt's network graph: %s", error)
        return None


def extract_logits_function(module: torch.nn.Module) -> Optional[LogitsFunction]:
    """A TorchScript function computing the output of ``module``'s last convolution from its
    input, or None when the graph has no such structure (scripted control flow, no convolution,
    more than one input)."""
    return _cut_function(module, "network_logits", lambda last: last.output())


def _constant(value: torch._C.Value):
    if value.node().kind() != "prim::Constant":
        raise ValueError("not a constant")
    return value.toIValue()


def _int_list(value: torch._C.Value) -> list[int]:
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [int(_constant(item)) for item in node.inputs()]
    return [int(v) for v in _constant(value)]


def _pointwise_head(node: torch._C.Node) -> Optional[PointwiseHead]:
    """Weight and bias of a frozen 1×1×1 convolution (stride 1, no padding, one group)."""
    inputs = list(node.inputs())
    kind = node.kind()
    try:
        weight, bias = _constant(inputs[1]), _constant(inputs[2])
        stride, padding = _int_list(inputs[3]), _int_list(inputs[4])
        if kind == "aten::_convolution":
            transposed, groups = bool(_constant(inputs[6])), int(_constant(inputs[8]))
        elif kind in ("aten::conv3d", "aten::convolution"):
            transposed = kind == "aten::convolution" and bool(_constant(inputs[6]))
            groups = int(_constant(inputs[-1]))
        else:
            return None
    except (ValueError, TypeError, RuntimeError, IndexError):
        return None
    if not isinstance(weight, torch.Tensor) or weight.dim() != 5 or tuple(weight.shape[2:]) != (1, 1, 1):
        return None
    if transposed or groups != 1 or any(s != 1 for s in stride) or any(p != 0 for p in padding):
        return None
    bias = bias if isinstance(bias, torch.Tensor) else torch.zeros(weight.shape[0], dtype=weight.dtype)
    return PointwiseHead(weight.detach().reshape(weight.shape[0], -1).float().cpu(), bias.detach().float().cpu())


def extract_features_and_head(module: torch.nn.Module) -> Optional[tuple[LogitsFunction, PointwiseHead]]:
    """When the network ends with a pointwise convolution (DynUNet's output block): a function
    computing that convolution's *input* — ``C`` feature channels instead of ``N`` logits — and the
    convolution's weights, which the engine applies chunk by chunk. None for any other shape."""
    # a TorchScript method has a graph; torch's stubs type ``forward`` as a plain callable
    last = _last_convolution(module.forward.graph) if hasattr(module, "forward") else None  # type: ignore[attr-defined]
    head = _pointwise_head(last) if last is not None else None
    if head is None:
        return None
    function = _cut_function(module, "network_features", lambda node: next(node.inputs()))
    return (function, head) if function is not None else None


@contextlib.contextmanager
def simple_jit_executor() -> Iterator[None]:
    """Run TorchScript with the simple executor, as SALT's ``predict.py`` does.

    The default profiling executor records shapes on the first calls and re-optimises the graph
    on the next (again for every new input shape, such as the verification probe); issue 10
    measured the first ``model.pt`` call at ≈ 20 s against ≈ 14–15 s for later ones. The simple
    executor runs the frozen graph as it is from the first call. The previous setting is restored
    on exit, so other TorchScript users in the process are unaffected.
    """
    set_executor = getattr(torch._C, "_jit_set_profiling_executor", None)
    if set_executor is None:
        yield
        return
    previous = set_executor(False)
    try:
        yield
    finally:
        set_executor(previous)
