"""The module's parameter node: what the user chose, saved with the scene (Slicer convention).

Qt-free so that defaults and parsing are tested with a real ``vtkMRMLScriptedModuleNode``.
"""
from __future__ import annotations

from typing import Any, Optional

INPUT_VOLUME = "InputVolume"
OUTPUT_SEGMENTATION = "OutputSegmentation"
MODEL = "Model"
DEVICE = "Device"
OVERLAP = "Overlap"
BATCH_SIZE = "BatchSize"
LARGEST_COMPONENT = "LargestComponent"

DEFAULTS = {MODEL: "", DEVICE: "auto", OVERLAP: "0.5", BATCH_SIZE: "2", LARGEST_COMPONENT: "true"}


def set_default_parameters(node: Any) -> None:
    """Fill in every parameter the node does not have yet (a new node, or a scene from an older version)."""
    for name, value in DEFAULTS.items():
        if not node.GetParameter(name):
            node.SetParameter(name, value)


def read_options(node: Any) -> dict[str, Any]:
    """The run settings stored in ``node``, typed; a hand-edited bad value falls back to its default."""

    def number(name: str, kind, low, high):
        try:
            value = kind(node.GetParameter(name))
        except ValueError:
            value = kind(DEFAULTS[name])
        return min(max(value, low), high)

    return {
        "model": node.GetParameter(MODEL) or None,
        "device": node.GetParameter(DEVICE) or DEFAULTS[DEVICE],
        "overlap": number(OVERLAP, float, 0.0, 0.95),
        "batch_size": number(BATCH_SIZE, int, 1, 1024),
        "largest_component": node.GetParameter(LARGEST_COMPONENT) != "false",
    }


def write_options(node: Any, model: Optional[str], device: str, overlap: float, batch_size: int,
                  largest_component: bool) -> None:
    """Store the GUI's settings in one modification (one GUI update for observers)."""
    was_modifying = node.StartModify()
    node.SetParameter(MODEL, model or "")
    node.SetParameter(DEVICE, device or DEFAULTS[DEVICE])
    node.SetParameter(OVERLAP, repr(float(overlap)))
    node.SetParameter(BATCH_SIZE, str(int(batch_size)))
    node.SetParameter(LARGEST_COMPONENT, "true" if largest_component else "false")
    node.EndModify(was_modifying)


def segment_options(node: Any) -> dict[str, Any]:
    """The engine's run options from the node (``logic.segment(options=...)``)."""
    options = read_options(node)
    return {key: options[key] for key in ("overlap", "batch_size", "largest_component")}
