"""``segment()``'s arguments (:meth:`.logic_core.SegmentationLogicCore.segment`) as the engine job's
fields: the run options, the probability maps asked for, the extra output files, the model and the
SALT server to run on, each checked by the engine's own rules so that a mistake is refused before
the engine starts. The logic imports this module when it segments (never at Slicer's start-up)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

#: The job fields ``segment`` sets itself (the probability maps: by its own arguments, imported as
#: uint8 volumes at the engine's threshold); ``outputs=`` takes the job's other fields.
SET_BY_THE_LOGIC = ("input", "labelmap", "model", "home", "catalog", "device", "options", "probabilities",
                    "probabilities_dtype", "confidence", "uncertain_below")


def engine_options(options: Any) -> dict:
    """The run options for the engine, by the engine's option names (those of ``saltseg segment``'s
    flags: ``skip_air`` ⇔ ``--skip-air``), from a dict, a dataclass or an object with attributes;
    checked here by the engine's own rules, so a mistake is refused before the engine starts."""
    from saltseg.inference.options import SegmentOptions, option_specs

    if options is None:
        return {}
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        options = dataclasses.asdict(options)
    if not isinstance(options, dict):
        options = {spec.name: getattr(options, spec.name) for spec in option_specs() if hasattr(options, spec.name)}
    given = {key: value for key, value in options.items() if value is not None}
    checked = SegmentOptions.from_mapping(given).to_mapping()
    return {key: checked[key] for key in given}


def probability_fields(probabilities: Any = None, confidence: bool = False) -> dict:
    """``segment(probabilities=..., confidence=...)`` as the job's fields (one name as a list of
    one; nothing when nothing is asked, so a run without maps sends none of these fields)."""
    fields: dict = {}
    if probabilities:
        names = [probabilities] if isinstance(probabilities, str) else list(probabilities)
        fields["probabilities"] = tuple(str(name) for name in names)
    if confidence:
        fields["confidence"] = True
    return fields


def job_outputs(outputs: Optional[dict]) -> dict:
    """``segment(outputs=...)`` as the job's fields (a path as a path, one mask name as a list of one);
    the engine's job checks the rest before any work."""
    from saltseg.job.description import job_fields

    names = [item.name for item in job_fields() if item.name not in SET_BY_THE_LOGIC]
    unknown = sorted(set(outputs or {}) - set(names))
    if unknown:
        raise ValueError(f"unknown output(s) {', '.join(unknown)}; segment(outputs=...) takes {', '.join(names)}")
    fields: dict = {}
    for name, value in (outputs or {}).items():
        if value is None:
            continue
        if name == "masks":
            fields[name] = (str(value),) if isinstance(value, (str, Path)) else tuple(str(item) for item in value)
        else:
            fields[name] = value if name == "format" else Path(value)
    return fields


def model_argument(model: Any) -> Optional[str]:
    """``segment(model=...)``: a registry id or a model folder, as the job's ``model``."""
    if model is None:
        return None
    if not isinstance(model, (str, Path)):
        from saltseg.errors import ModelError

        raise ModelError("pass the model as a registry id or a model folder; the engine runs in its own "
                         "process, so a model loaded in Slicer cannot be used")
    return str(model)


def request_server(server: Any, token: Optional[str], store: Any = None) -> Optional[dict]:
    """``segment(server=, token=)`` as the request's ``"server"`` (None: this computer). ``store``:
    where the module keeps its server and token (None: Slicer's settings, when there are)."""
    if server is None or server is False:
        return None
    from ..processes.server_settings import console_server

    if isinstance(server, dict):  # the request's own form (the module's panel checked it)
        from saltseg.remote.address import address_from_request

        address_from_request(server)  # RequestError naming a missing url or token
        return dict(server)
    if store is None:
        try:
            from ..processes.settings import settings

            store = settings()
        except ImportError:  # outside Slicer: no saved server
            store = None
    return console_server(server, token, store)
