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
from ..analysis.statistics import UNCERTAIN_BELOW, UNCERTAIN_HELP
from ..outputs.plan import OutputPlan
from ..outputs.probability_maps import PROBABILITY_DTYPES



def _field(default: Any, help: str, kind: str, **extra: Any) -> Any:
    """A job field: ``kind`` is its JSON type in a request (string, array, object, boolean or number)."""
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
    probabilities: tuple[str, ...] = _field((), "also write the probability of a tree node (leaf or internal, e.g. "
                                                "body,bones,spine) on the input grid as <output>.prob.<node>.nii.gz: "
                                                "SALT's Gaussian-blended node channel, resampled linearly", "array")
    probabilities_dtype: str = _field("uint8", "the probability maps' type: uint8 (NIfTI, value/255 = probability, "
                                               "the scale in the header: scl_slope 1/255, read as 0-1 by ITK, Slicer "
                                               "and nibabel) or float (float32 .nrrd, 0-1: NRRD has no float16 and ITK "
                                               "writes no half floats)", "string")
    confidence: bool = _field(False, "also write the chosen leaf's probability (the winning path's product) as "
                                     "<output>.confidence.nii.gz; with statistics, adds mean_probability and "
                                     "uncertain_ml per node", "boolean")
    uncertain_below: float = _field(UNCERTAIN_BELOW, UNCERTAIN_HELP, "number")

    def __post_init__(self) -> None:
        if self.input is None or not str(self.input):
            raise RequestError("the job has no input")
        if self.output is None and self.labelmap is None:
            raise RequestError("the job writes nothing: give an output (or a labelmap to import)")
        if self.device not in DEVICE_CHOICES and not re.fullmatch(DEVICE_PATTERN, self.device):
            raise RequestError(f"'device' must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {self.device!r}")
        if self.output is None and (self.masks or self.format != "auto"):
            raise RequestError("masks and format need an output to name them after")
        if self.probabilities_dtype not in PROBABILITY_DTYPES:
            raise RequestError(f"'probabilities_dtype' must be one of {', '.join(PROBABILITY_DTYPES)}, "
                               f"got {self.probabilities_dtype!r}")
        if not 0.0 < self.uncertain_below <= 1.0:
            raise RequestError(f"'uncertain_below' must be in (0, 1], got {self.uncertain_below!r}")

    def plan(self) -> Optional[OutputPlan]:
        """The files the job writes besides the front end's labelmap (None: that labelmap only)."""
        if (self.output is None and self.preview is None and self.statistics is None and not self.probabilities
                and not self.confidence):
            return None
        return OutputPlan.of(self.output, self.format, self.masks, self.preview, self.statistics,
                             probabilities=self.probabilities, probabilities_dtype=self.probabilities_dtype,
                             confidence=self.confidence, uncertain_below=self.uncertain_below,
                             labelmap=self.labelmap)

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
        kind = item.metadata["json"]
        if not _json_fits(kind, value):
            raise RequestError(f"{item.name!r} must be {_JSON_SHOWN[kind]} or null, got {type_name(value)}")
        values[item.name] = value
    try:
        options = SegmentOptions.from_mapping(values.pop("options", {}))
    except OptionError as error:
        raise RequestError(str(error)) from None
    for name in ("input", "output", "preview", "statistics", "labelmap"):
        if name in values:
            values[name] = Path(values[name])
    for name in ("masks", "probabilities"):
        if name in values:
            values[name] = tuple(values[name])
    if "uncertain_below" in values:
        values["uncertain_below"] = float(values["uncertain_below"])
    return SegmentJob(options=options, **values)


_JSON_SHOWN = {"string": "a string", "array": "a list of strings", "object": "an object", "boolean": "true or false",
               "number": "a number"}


def _json_fits(kind: str, value: Any) -> bool:
    """A request value of the field's JSON kind (a boolean is no number, a list holds strings)."""
    if kind == "array":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "object": dict, "boolean": bool}[kind])


def type_name(value: Any) -> str:
    """How a request's message names a JSON value's type."""
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
