"""The network inside ``model.pt``, without the tree softmax it ends with.

SALT exports ``Sequential(DynUNet, TreeSoftmax)`` traced and frozen, so ``model.pt`` is one flat
TorchScript graph: the network's convolutions, then the tree softmax's selects, exps, sums and
products. Running it whole makes the tree softmax allocate several full-window ``N``-channel
tensors (for a small network it costs more than the network). This module cuts the graph after its
last convolution — the network's output layer — and returns that value instead, so the engine can
apply the tree softmax itself, chunk by chunk.

The cut is a guess about the graph's shape, so it is only ever used after
:func:`saltseg.inference.window_network` has checked it numerically against the whole model;
graphs without a convolution (or whose cut does not reproduce the model) are run whole.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable, Iterator, Optional

import torch

logger = logging.getLogger(__name__)

_CONVOLUTIONS = ("aten::_convolution", "aten::conv3d", "aten::convolution", "aten::mkldnn_convolution",
                 "aten::cudnn_convolution", "aten::miopen_convolution")

LogitsFunction = Callable[[torch.Tensor], torch.Tensor]


def _last_convolution(graph: torch._C.Graph) -> Optional[torch._C.Node]:
    last = None
    for node in graph.nodes():  # top-level nodes in execution order
        if node.kind() in _CONVOLUTIONS or node.kind().startswith("prim::mkldnn_convolution"):
            last = node
    return last


def extract_logits_function(module: torch.jit.ScriptModule) -> Optional[LogitsFunction]:
    """A TorchScript function computing the output of ``module``'s last convolution from its
    input, or None when the graph has no such structure (scripted control flow, no convolution,
    more than one input)."""
    try:
        graph = module.forward.graph.copy()
    except (AttributeError, RuntimeError):
        return None
    inputs = list(graph.inputs())
    if len(inputs) != 2 or inputs[0].uses():  # (self, x), self unused once frozen
        return None
    last = _last_convolution(graph)
    if last is None:
        return None
    nodes = list(graph.nodes())
    after = nodes[nodes.index(last) + 1:]
    graph.return_node().replaceInput(0, last.output())
    for node in reversed(after):  # the tree softmax: nothing before the cut uses it
        if any(output.uses() for output in node.outputs()):
            return None
        node.destroy()
    torch._C._jit_pass_dce(graph)
    graph.eraseInput(0)
    try:
        return torch._C._create_function_from_graph("network_logits", graph)
    except RuntimeError as error:
        logger.info("cannot build a function from model.pt's network graph: %s", error)
        return None


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
