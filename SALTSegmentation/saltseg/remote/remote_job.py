"""A :class:`~saltseg.job.description.SegmentJob` run on a SALT server, written here.

The same checks as a local run come first (:func:`saltseg.job.run.run_job`: formats, output
folders, outputs over inputs, the CT read and checked), before any byte is sent. The server then
segments the CT and sends back the labels and the result's description (tree, model, warnings,
timings); every output is written here from them by the same writers as a local run, all or none
(so DICOM SEG and RT Structure Set, which reference the DICOM series, work too: the series never
leaves this computer). Files only the server can make (a job field this client does not write
itself) are received into place the same way.

A cancel (the token, Ctrl-C) or any failure on the way deletes the job on the server; a server
that stops mid-job is :class:`~.errors.ServerLostError`, and nothing is written.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import Cancelled, RequestError
from ..inference.options import SegmentOptions
from ..progress import CancelToken, ProgressCallback
from .address import ServerAddress
from .api import CANCELLED, DONE, JOB_ID_PATTERN, QUEUED, SERVER_SUFFIXES
from .client import ServerConnection
from .errors import ServerError
from .job_spec import path_fields, suffix_of
from .remote_maps import ReceivedMaps, map_names, map_request

logger = logging.getLogger(__name__)

#: The job's fields this client writes itself from the labels (the others, the server writes).
WRITTEN_HERE = ("output", "format", "masks", "preview", "statistics", "labelmap")
#: Fields that stay on this side: where the CT and models are, and the device (the server's).
NOT_SENT = ("input", "model", "home", "catalog", "device", "options")
#: The labels travel as a compressed NRRD labelmap (with its label table beside it).
LABELS_SUFFIX = ".nrrd"


@dataclass
class RemoteOutcome:
    """What :func:`run_remote_job` made: as :class:`saltseg.job.run.JobOutcome`, with the server's
    device and its description of the run (``model_reused``, ``window_placement``, …)."""

    result: Any  # SegmentationResult
    device: str
    written: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    server_result: dict[str, Any] = field(default_factory=dict)
    #: What the ``done`` event adds about this computer's files (probability maps, confidence map).
    local_fields: dict[str, Any] = field(default_factory=dict)


def server_made_files(job: Any) -> dict[str, tuple[Path, str]]:
    """The job's path fields the server writes (none this client writes itself): field → (local
    path, the ending sent)."""
    files = {}
    for name in path_fields():
        value = getattr(job, name)
        if name in WRITTEN_HERE or name == "input" or value is None:
            continue
        suffix = suffix_of(Path(value))
        if suffix is None:
            raise ServerError(f"{name} {value}: with a server, name it *{' or *'.join(SERVER_SUFFIXES)}")
        files[name] = (Path(value), suffix)
    return files


def labels_request(model: Optional[str], options: SegmentOptions) -> dict[str, Any]:
    """A request for the labels of ``model`` (an id of the server's; None: its default) with ``options``."""
    request: dict[str, Any] = {"op": "segment", "output": LABELS_SUFFIX, "options": options.to_mapping()}
    if model:
        if Path(model).expanduser().is_dir() or "/" in model or "\\" in model:
            raise RequestError(f"model {model}: a server runs its own models; name one by id "
                               "(saltseg models list --server URL)")
        request["model"] = model
    return request


def remote_request(job: Any, server_files: dict[str, tuple[Path, str]]) -> dict[str, Any]:
    """The job as sent: the labels as the output, the run options, the model by id, and every
    field this client does not handle itself as it is (paths as endings)."""
    request = labels_request(job.model, job.options)
    for name, value in job.to_request().items():
        if name not in WRITTEN_HERE and name not in NOT_SENT and name != "op" and name not in path_fields():
            request[name] = value
    for name, (_, suffix) in server_files.items():
        request[name] = suffix
    request.update(map_request(job))
    return request


class RemoteRun:
    """One job on the server, from its creation to its deletion (:meth:`close`, always)."""

    def __init__(self, connection: ServerConnection, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> None:
        self.connection = connection
        self.progress = progress or (lambda stage, fraction: None)
        self.cancel = cancel
        self.job_id: Optional[str] = None
        self.timings: dict[str, float] = {}

    def submit(self, request: dict[str, Any], upload: Path) -> None:
        started = time.perf_counter()
        answer = self.connection.request_json("POST", "/jobs", request, expect=(201,))
        job_id = str(answer.get("id", ""))
        if not JOB_ID_PATTERN.fullmatch(job_id):
            raise ServerError(f"the server at {self.connection.address.url} sent no job id")
        self.job_id = job_id
        self.progress("uploading", 0.0)
        self.connection.upload(f"/jobs/{job_id}/input", upload,
                               lambda done, total: self.progress("uploading", done / total if total else 1.0),
                               self.cancel)
        self.timings["upload"] = time.perf_counter() - started

    def wait(self) -> dict[str, Any]:
        """Follow the job until it ends: its finished status, or the engine's error."""
        assert self.job_id is not None
        started, queued_s = time.perf_counter(), None
        status: dict[str, Any] = {}
        for status in self.connection.events(self.job_id, self.cancel):
            if status.get("state") == QUEUED:
                ahead = max(0, int(status.get("position") or 1) - 1)
                self.progress("queued" if not ahead else f"queued ({ahead} ahead)", 0.0)
                continue
            if queued_s is None:  # from the upload's end to the job's start: the queue's share
                queued_s = time.perf_counter() - started
            if status.get("stage"):
                self.progress(str(status["stage"]), float(status.get("fraction") or 0.0))
        self.timings["queued"] = queued_s or 0.0
        if status.get("state") == DONE:
            return status
        error = status.get("error") or {}
        if status.get("state") == CANCELLED:
            raise ServerError(f"the server cancelled the job: {error.get('message', 'no reason given')}")
        from .client import _engine_error

        raise _engine_error(str(error.get("type", "")), str(error.get("message", "the job failed on the server")))

    def fetch(self, name: str, target: Path) -> None:
        assert self.job_id is not None
        started = time.perf_counter()
        self.progress("downloading", 0.0)
        with open(target, "wb") as stream:
            self.connection.download(f"/jobs/{self.job_id}/files/{name}", stream,
                                     lambda done, total: self.progress("downloading", done / total if total else 1.0),
                                     self.cancel)
        self.timings["download"] = self.timings.get("download", 0.0) + time.perf_counter() - started

    def close(self) -> None:
        """Delete the job on the server: cancels it if it still runs, frees its results if not."""
        if self.job_id is not None:
            self.connection.delete(self.job_id)
            self.job_id = None


def result_file(status: dict[str, Any], name: str) -> str:
    names = [entry.get("name") for entry in status.get("files", [])]
    if name not in names:
        raise ServerError(f"the server's result has no {name} (it has {', '.join(map(str, names)) or 'no files'})")
    return name


def remote_result(described: dict[str, Any], labels_file: Path, image: Any, options: SegmentOptions) -> Any:
    """The :class:`~saltseg.inference.pipeline.SegmentationResult` the server described, its
    labels on ``image``'s grid (the same grid the server segmented: checked)."""
    import SimpleITK as sitk

    from ..analysis.subsets import resolve_structures
    from ..inference.pipeline import SegmentationResult
    from ..tree.labeltree import LabelTree

    tree = LabelTree.from_json(described["tree"])
    labels = sitk.ReadImage(str(labels_file))
    if labels.GetSize() != image.GetSize():
        raise ServerError(f"the server's labels are {labels.GetSize()} voxels, the CT {image.GetSize()}")
    labels.CopyInformation(image)  # exactly the CT's geometry, as a local run's labels
    subset = resolve_structures(tree, options.only) if options.only else None
    return SegmentationResult(labels, tree, str(described.get("model_id", "")), list(described.get("warnings", [])),
                              dict(described.get("timings", {})),
                              {"window_placement": described.get("window_placement")}, subset)


def segment_on_server(connection: ServerConnection, source: Path, image: Any, request: dict[str, Any],
                      scratch: Path, progress: Optional[ProgressCallback] = None,
                      cancel: Optional[CancelToken] = None,
                      receive: Optional[dict[str, Path]] = None) -> tuple[Any, dict[str, Any]]:
    """Segment ``image`` (read from ``source``) on the server: the result and the server's
    description; the files named in ``receive`` (server file name → where to put it) fetched too."""
    from .transfer import upload_file

    run = RemoteRun(connection, progress, cancel)
    try:
        run.submit(request, upload_file(source, image, scratch))
        status = run.wait()
        described = dict(status.get("result") or {})
        labels_file = scratch / f"labels{LABELS_SUFFIX}"
        run.fetch(result_file(status, f"output{LABELS_SUFFIX}"), labels_file)
        node_maps, confidence_map = map_names(described)
        for name in [*node_maps.values(), *([confidence_map] if confidence_map else [])]:
            run.fetch(result_file(status, name), scratch / name)
        for name, target in (receive or {}).items():
            run.fetch(result_file(status, name), target)
    finally:
        run.close()
    result = remote_result(described, labels_file, image, SegmentOptions.from_mapping(request["options"]))
    if node_maps or confidence_map:
        files = {result.tree.index(node): scratch / name for node, name in node_maps.items()}
        result.probabilities = ReceivedMaps(files, scratch / confidence_map if confidence_map else None, image)
    result.timings.update(run.timings)
    return result, described


def server_tree(connection: ServerConnection, model: Optional[str]) -> Any:
    """The label tree of the model the job names on the server (its default: None)."""
    from ..tree.labeltree import LabelTree

    return LabelTree.from_json(connection.model_tree(model))


def run_remote_job(job: Any, address: ServerAddress, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> RemoteOutcome:
    """Run ``job`` on the server at ``address``; the same checks, files and errors as
    :func:`saltseg.job.run.run_job`."""
    from ..analysis.subsets import resolve_structures
    from ..io.image_io import check_ct_image, read_image
    from ..io.output_check import check_output_locations, refuse_outputs_on_inputs
    from ..io.writers import write_image_file
    from ..job.run import dicom_source
    from ..outputs.plan import remove_outputs
    from .transfer import received_files

    if job.device != "auto":
        logger.info("device %s ignored: the server computes on its own device", job.device)
    plan = job.plan()
    transfer = [job.labelmap] if job.labelmap is not None else []
    server_files = server_made_files(job)
    if plan is not None:
        needs_source = plan.format is not None and plan.format.needs_dicom_source
        plan.check_early([job.input], dicom_source(job.input) if needs_source else None)
    refuse_outputs_on_inputs(transfer, [job.input], compress=False)
    refuse_outputs_on_inputs([path for path, _ in server_files.values()], [job.input])
    request = remote_request(job, server_files)
    image = read_image(job.input)
    check_ct_image(image)  # a CT the engine refuses is refused here, before the upload
    voxels = image.GetNumberOfPixels()
    check_output_locations(transfer + [path for path, _ in server_files.values()], voxels=voxels)
    connection = ServerConnection(address)
    tree = server_tree(connection, job.model)
    # masks, map nodes, every file and its room: before the CT is sent
    replaced = plan.check(tree, [job.input], voxels) if plan is not None else []
    if job.options.only:
        resolve_structures(tree, job.options.only)
    targets = [path for path, _ in server_files.values()]
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="saltseg-remote-") as scratch, received_files(targets) as parts:
            receive = {f"{name}{suffix}": part for (name, (_, suffix)), part in zip(server_files.items(), parts)}
            result, described = segment_on_server(connection, Path(job.input), image, request, Path(scratch),
                                                  progress, cancel, receive)
            if cancel is not None and cancel.cancelled:
                raise Cancelled("Segmentation cancelled by the user.")
            written += plan.write(result, image, input_label=str(job.input)) if plan is not None else []
            for path in transfer:
                written += write_image_file(result.labelmap, path, compress=False)
    except BaseException:
        remove_outputs(written)  # the files server and client made are complete together or not at all
        raise
    written += targets
    local = {}
    if plan is not None:
        local = {"probability_maps": {node: str(path) for node, path in plan.probability_paths(result.tree).items()},
                 "confidence_map": str(plan.confidence_path) if plan.confidence_path is not None else None}
    return RemoteOutcome(result, str(described.get("device", "")), written, replaced, described, local)


def done_fields(outcome: RemoteOutcome, job: Any) -> dict[str, Any]:
    """The server's description of the run as the engine service's ``done`` event reports it,
    with this computer's paths (never the server's)."""
    fields = {key: value for key, value in outcome.server_result.items()
              if key not in ("labelmap", "written", "tree", "timings", "probability_maps", "confidence_map")
              and key not in path_fields()}
    for name in path_fields():
        if name != "input" and name in outcome.server_result and getattr(job, name, None) is not None:
            fields[name] = str(getattr(job, name))
    return fields

