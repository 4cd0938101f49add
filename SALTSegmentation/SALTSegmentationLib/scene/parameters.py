"""The module's parameter node: what the user chose, saved with the scene (Slicer convention).

The run options are the engine's (:class:`saltseg.inference.options.SegmentOptions`): one
parameter per option, named after it (``batch_size`` → ``BatchSize``), its value stored as JSON
text and checked by the engine's own rule when read. Qt-free so that defaults and parsing are
tested with a real ``vtkMRMLScriptedModuleNode``; saltseg is imported only when a node is read or
written, never at Slicer's start-up.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Optional, Sequence

logger = logging.getLogger(__name__)

INPUT_VOLUME = "InputVolume"
OUTPUT_SEGMENTATION = "OutputSegmentation"
MODEL = "Model"
DEVICE = "Device"

DEFAULTS = {MODEL: "", DEVICE: "auto"}


def parameter_name(option: str) -> str:
    """The parameter that stores a run option (``largest_component`` → ``LargestComponent``)."""
    return "".join(part.capitalize() for part in option.split("_"))


def _specs():
    from saltseg.inference.options import option_specs

    return option_specs()


def set_default_parameters(node: Any) -> None:
    """Fill in the model and device the node does not have yet (a new node, or a scene from an older
    version); a run option not stored is the engine's default when read."""
    for name, value in DEFAULTS.items():
        if not node.GetParameter(name):
            node.SetParameter(name, value)


def _stored_option(node: Any, spec) -> Any:
    text = node.GetParameter(parameter_name(spec.name))
    if not text:
        return spec.default
    try:
        return spec.check(json.loads(text))
    except ValueError as error:  # not JSON, or refused by the option's rule (OptionError)
        logger.warning("parameter %s: %s; using the default %s", parameter_name(spec.name), error,
                       json.dumps(spec.default))
        return spec.default


def read_options(node: Any) -> dict[str, Any]:
    """The model, device and every run option stored in ``node``, typed; a hand-edited bad value
    falls back to the option's default (and says so in the log)."""
    stored = {spec.name: _stored_option(node, spec) for spec in _specs()}
    return {"model": node.GetParameter(MODEL) or None, "device": node.GetParameter(DEVICE) or DEFAULTS[DEVICE],
            **stored}


def write_options(node: Any, model: Optional[str], device: str, **options: Any) -> None:
    """Store the GUI's settings in one modification (one GUI update for observers); each option is
    checked by the engine's rule first, so the scene never holds a value the engine refuses."""
    specs = {spec.name: spec for spec in _specs()}
    unknown = sorted(set(options) - set(specs))
    if unknown:
        raise ValueError(f"unknown run option(s) {', '.join(unknown)}; the engine takes {', '.join(specs)}")
    checked = {name: specs[name].check(value) for name, value in options.items()}
    was_modifying = node.StartModify()
    node.SetParameter(MODEL, model or "")
    node.SetParameter(DEVICE, device or DEFAULTS[DEVICE])
    for name, value in checked.items():
        node.SetParameter(parameter_name(name), json.dumps(list(value) if isinstance(value, tuple) else value))
    node.EndModify(was_modifying)


def segment_options(node: Any) -> dict[str, Any]:
    """The run options stored in the node (``logic.segment(options=...)``): those the user set."""
    return {spec.name: _stored_option(node, spec) for spec in _specs()
            if node.GetParameter(parameter_name(spec.name))}


#: The *Probability maps* option: the job's ``confidence`` field (on/off: the confidence map) and its
#: ``probabilities`` (tree nodes that also get a map of their own), one parameter each.
CONFIDENCE, PROBABILITIES = parameter_name("confidence"), parameter_name("probabilities")


def read_probability_maps(node: Any) -> tuple[bool, tuple[str, ...]]:
    """(maps asked for?, the tree nodes with a map of their own) as stored; a hand-edited bad value
    reads as off / none (and says so in the log)."""
    try:
        on = json.loads(node.GetParameter(CONFIDENCE) or "false")
        names = json.loads(node.GetParameter(PROBABILITIES) or "[]")
    except ValueError as error:
        logger.warning("parameters %s/%s: %s; probability maps off", CONFIDENCE, PROBABILITIES, error)
        return False, ()
    if not isinstance(on, bool) or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        logger.warning("parameters %s/%s: %r, %r are no true/false and list of names; probability maps off",
                       CONFIDENCE, PROBABILITIES, on, names)
        return False, ()
    return on, tuple(names)


def write_probability_maps(node: Any, on: bool, names: Sequence[str] = ()) -> None:
    was_modifying = node.StartModify()
    node.SetParameter(CONFIDENCE, json.dumps(bool(on)))
    node.SetParameter(PROBABILITIES, json.dumps([str(name) for name in names]))
    node.EndModify(was_modifying)


def probability_request(node: Any) -> dict[str, Any]:
    """What ``logic.segment`` gets for the stored choice: ``confidence`` and ``probabilities`` when
    the maps are asked for, nothing otherwise (the engine then computes none)."""
    on, names = read_probability_maps(node)
    if not on:
        return {}
    return {"confidence": True, **({"probabilities": list(names)} if names else {})}
