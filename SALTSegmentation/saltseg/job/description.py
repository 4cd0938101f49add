"""A segmentation job: input, model, device, run options and outputs, declared once.

``saltseg segment`` builds one from its arguments, the engine service decodes one from each
request line (the request *is* the serialised job: :meth:`SegmentJob.to_request`,
:func:`job_from_request`), and the Slicer module's console sends one. Each field carries its help
(``metadata["help"]``), from which the service's JSON Schema is derived.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..device_names import DEVICE_CHOICES, DEVICE_PATTERN
from ..errors import OptionError, RequestError
from ..inference.options import SegmentOptions
from ..outputs.plan import OutputPlan



def _field(default: Any, help: str, kind: str, **extra: Any) -> Any:
    """A job field: ``kind`` is its JSON type in a request (string, array or object)."""
    metadata = {"help": help, "json": kind}
    if callable(default):
        return field(default_factory=default, metadata=metadata, **extra)
    return field(default=default, metadata=metadata, **extra)


@dataclass(frozen=True)
class SegmentJob:
    input: Path = _field(None, "the CT to segment: an image file or a DICOM series folder", "string")
    output: Optional[Path] = _field(None, "output .seg.nrrd, labelmap .nii.gz/.nrrd/.mha, DICOM SEG .seg.dcm, RT "
                                          "Structure Set .rtstruct.dcm or node masks .masks.json (see format)",
                                    "string")
    format: str = _field("auto", "the output's format: auto (from its name), seg.nrrd, labelmap, dicom-seg or "
                                 "rtstruct", "string")
    model: Optional[str] = _field(None, "registry model id or a folder with model.pt + config.pkl (default: the "
                                        "published SALT model, if installed)", "string")
    home: Optional[str] = _field(None, "models folder (null: SALTSEG_HOME or the platform's default)", "string")
    catalog: Optional[str] = _field(None, "extra model catalogue JSON file", "string")
    device: str = _field("auto", f"compute device: {', '.join(DEVICE_CHOICES)} or cuda:N", "string")
    options: SegmentOptions = _field(SegmentOptions, "the engine's run options by name", "object")
    masks: tuple[str, ...] = _field((), "also write the union mask of a tree node, e.g. body,bones,spine, as "
                                        "<output>.<node>.nii.gz", "array")
    preview: Optional[Path] = _field(None, "also write a PNG preview (axial, coronal, sagittal slices with the "
                                           "labels)", "string")
    statistics: Optional[Path] = _field(None, "also write every tree node's voxels, volume and CT intensity "
                                              "statistics (mean, std, median, min, max, 5th/95th percentile HU) "
                                              "as .csv or .json", "string")
    #: The front end's own copy of the labels (the Slicer module imports it): uncompressed, no table.
    labelmap: Optional[Path] = _field(None, "a labelmap for the front end to import (uncompressed, SALT's label "
                                            "values, no .labels.json)", "string")

    def __post_init__(self) -> None:
        if self.input is None or not str(self.input):
            raise RequestError("the job has no input")
        if self.output is None and self.labelmap is None:
            raise RequestError("the job writes nothing: give an output (or a labelmap to import)")
        if self.device not in DEVICE_CHOICES and not re.fullmatch(DEVICE_PATTERN, self.device):
            raise RequestError(f"'device' must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {self.device!r}")
        if self.output is None and (self.masks or self.format != "auto"):
            raise RequestError("masks and format need an output to name them after")

    def plan(self) -> Optional[OutputPlan]:
        """The files the job writes besides the front end's labelmap (None: that labelmap only)."""
        if self.output is None and self.preview is None and self.statistics is None:
            return None
        return OutputPlan.of(self.output, self.format, self.masks, self.preview, self.statistics)

    def to_request(self) -> dict[str, Any]:
        """The job as the engine service's request (JSON-ready; fields without a value left out)."""
        request: dict[str, Any] = {"op": "segment"}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "options":
                value = value.to_mapping()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            if value is not None and value != []:
                request[item.name] = value
        return request


def job_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(SegmentJob))


def job_help(name: str) -> str:
    """A job field's help text (the command line's and the request schema's)."""
    return next(item.metadata["help"] for item in job_fields() if item.name == name)


def job_from_request(message: Mapping[str, Any]) -> SegmentJob:
    """The job a decoded request describes (``op`` already checked); :class:`RequestError` naming
    any field of the wrong type, and the run options checked by their own rules."""
    names = [item.name for item in job_fields()]
    unknown = sorted(set(message) - set(names) - {"op"})
    if unknown:
        raise RequestError(f"unknown request field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           f"a request has op, {', '.join(names)}")
    values: dict[str, Any] = {}
    for item in job_fields():
        value = message.get(item.name)
        if value is None or value == "":
            continue
        expected = {"string": str, "array": list, "object": dict}[item.metadata["json"]]
        if not isinstance(value, expected) or (expected is list and not all(isinstance(v, str) for v in value)):
            shown = {"string": "a string", "array": "a list of strings", "object": "an object"}[item.metadata["json"]]
            raise RequestError(f"{item.name!r} must be {shown} or null, got {type_name(value)}")
        values[item.name] = value
    try:
        options = SegmentOptions.from_mapping(values.pop("options", {}))
    except OptionError as error:
        raise RequestError(str(error)) from None
    for name in ("input", "output", "preview", "statistics", "labelmap"):
        if name in values:
            values[name] = Path(values[name])
    if "masks" in values:
        values["masks"] = tuple(values["masks"])
    return SegmentJob(options=options, **values)


def type_name(value: Any) -> str:
    """How a request's message names a JSON value's type."""
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
