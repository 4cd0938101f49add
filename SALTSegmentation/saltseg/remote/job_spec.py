"""A client's job, made the server's: the engine's own :class:`~saltseg.job.description.SegmentJob`
request, with every path the server's.

A client sends the job as the engine service's request (``SegmentJob.to_request()``) in which each
path field holds only the file ending it wants (``{"output": ".seg.nrrd", "statistics": ".csv"}``);
the server names the file ``ID/<field><ending>`` inside its work folder. No string of a client
becomes a path: endings come from :data:`~.api.SERVER_SUFFIXES`, the model is one of the server's
by id, and where the CT is, where models live and the device are the server's to say. The request
is then checked by the service's own parser, so a bad option gets the engine's own message.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import OutputError, RequestError
from ..job.description import SegmentJob, job_fields, job_from_request, type_name
from .api import SERVER_SIDE_FIELDS, SERVER_SUFFIXES


def path_fields() -> list[str]:
    """The job's fields that name a file (``input``, ``output``, ``statistics``, …), in order."""
    return [item.name for item in job_fields() if "Path" in str(item.type)]


def suffix_of(path: Path, allowed: tuple[str, ...] = SERVER_SUFFIXES) -> Optional[str]:
    """The longest ending of ``allowed`` that ``path``'s name ends with (``ct.seg.nrrd`` → ``.seg.nrrd``)."""
    name = Path(path).name.lower()
    matches = [suffix for suffix in allowed if name.endswith(suffix) and len(name) > len(suffix)]
    return max(matches, key=len) if matches else None


@dataclass(frozen=True)
class ServedModel:
    id: str
    title: str
    #: What the engine is given: a registry id, or the folder the administrator named.
    spec: str


@dataclass
class ServerJob:
    """The server's request for the engine (paths relative to the jobs folder) and the file name
    of each path field the client asked for."""

    request: dict[str, Any]
    files: dict[str, str]
    model_id: str


def server_job(message: Any, job_id: str, models: Mapping[str, ServedModel], default_model: str,
               device: str, home: Optional[str]) -> ServerJob:
    """The server's job for a client's ``message``; :class:`RequestError` (or the engine's
    :class:`OutputError`, :class:`OptionError`) saying what is wrong."""
    if not isinstance(message, dict):
        raise RequestError(f"the job must be a JSON object, got {type_name(message)}")
    message = dict(message)
    if message.pop("op", "segment") != "segment":
        raise RequestError("a job's 'op' is 'segment'")
    for name in SERVER_SIDE_FIELDS:
        value = message.pop(name, None)
        if name == "device" and value in (None, "auto"):
            continue
        if value is not None:
            raise RequestError(f"{name!r} is the server's to choose: leave it out of the job"
                               + (f" (the server computes on {device})" if name == "device" else ""))
    model_id = message.pop("model", None) or default_model
    if not isinstance(model_id, str) or model_id not in models:
        shown = model_id if isinstance(model_id, str) else type_name(model_id)
        raise RequestError(f"the server has no model {str(shown)[:80]!r}; it has {', '.join(sorted(models))}")
    files: dict[str, str] = {}
    for name in path_fields():
        if name == "input" or message.get(name) in (None, ""):
            continue
        ending = message[name]
        if not isinstance(ending, str) or ending.lower() not in SERVER_SUFFIXES:
            raise RequestError(f"{name!r} must be a file ending the server writes ({', '.join(SERVER_SUFFIXES)}), "
                               f"got {str(ending)[:40]!r}: the server names its files itself")
        files[name] = f"{name}{ending.lower()}"
        message[name] = f"{job_id}/{files[name]}"
    request = {"op": "segment", **message, "input": f"{job_id}/input.nii.gz", "model": models[model_id].spec,
               "device": device, **({"home": home} if home else {})}
    job = job_from_request(request)  # the service's checks: field types, options, something to write
    check_outputs(job)
    return ServerJob(request, files, model_id)


def check_outputs(job: SegmentJob) -> None:
    """The output format's and names' checks that need neither the CT nor the model."""
    plan = job.plan()
    if plan is not None and plan.format is not None and plan.format.needs_dicom_source:
        raise OutputError(f"{plan.format.name} output references the DICOM series, which stays with the client")


def with_input(request: dict[str, Any], job_id: str, suffix: str) -> dict[str, Any]:
    """The request reading the uploaded CT, saved as ``ID/input<suffix>``."""
    return {**request, "input": f"{job_id}/input{suffix}"}


def job_request_fields() -> list[str]:
    """Every field a client's job may carry (the API's description lists them)."""
    return [item.name for item in dataclasses.fields(SegmentJob) if item.name not in SERVER_SIDE_FIELDS]
