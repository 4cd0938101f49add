"""What runs on a worker: one loaded model per worker process, kept for all its cases.

:class:`ModelPlugin` is a Dask worker plugin: every worker (also one that joins or restarts
later) loads the model once when it starts, and :func:`run_case` takes it from the per-process
cache. A case never raises: a bad input, a failed write or any other error becomes a failed
:class:`CaseOutcome` with its message, so one case never stops the others.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ..analysis.statistics import UNCERTAIN_BELOW, NodeStatistics, labelmap_statistics
from ..errors import SaltSegError
from ..inference.pipeline import SegmentOptions, segment_image
from ..io.image_io import read_image
from ..model.model_io import SaltModel, load_model
from ..outputs.formats import format_named
from ..outputs.plan import DicomSource, OutputPlan
from ..outputs.probability_maps import confidence_map_path, probability_map_path
from .cases import Case
from .cluster import ignore_ctrl_c
from .dicom_series import read_series
from .manifest import DONE, FAILED, CaseRecord, sha256_of
from .volumes import NodeVolume, node_volumes

logger = logging.getLogger(__name__)


_models: dict[tuple[str, str], SaltModel] = {}
_models_lock = threading.Lock()


def loaded_model(model_dir: str, device: str) -> SaltModel:
    """The model of this process for ``(model_dir, device)``, loaded on first use only."""
    key = (str(model_dir), device)
    with _models_lock:  # worker threads must not load the same model twice
        if key not in _models:
            started = time.perf_counter()
            _models[key] = load_model(model_dir, device)
            logger.info("loaded model %s on %s in %.2f s", model_dir, _models[key].device,
                        time.perf_counter() - started)
        return _models[key]


@dataclass(frozen=True)
class CaseSettings:
    """Everything a worker needs besides the case; sent with every task (small)."""

    outdir: str
    model_dir: str
    model_id: str
    device: str = "auto"
    output_format: str = "seg.nrrd"
    options: SegmentOptions = field(default_factory=SegmentOptions)
    #: Probability maps per case (tree paths, resolved before the batch starts), their type, the
    #: confidence map, and the statistics' uncertainty threshold: outputs, not labels, so they are
    #: not part of :attr:`options_signature`.
    probabilities: tuple[str, ...] = ()
    probabilities_dtype: str = "uint8"
    confidence: bool = False
    uncertain_below: float = UNCERTAIN_BELOW
    #: Segment on a SALT server instead of with this worker's model (:class:`.remote.RemoteCases`);
    #: None: here.
    remote: Optional[Any] = field(default=None, compare=False)

    @property
    def options_signature(self) -> str:
        """The segment options that can change a case's labels, as the manifest records them (the
        batch size and memory limits cannot, so changing them redoes nothing)."""
        ignored = {"batch_size", "host_memory_limit", "device_memory_limit"}
        values = dataclasses.asdict(self.options)
        only = values.pop("only")
        if only:  # under the name earlier manifests recorded it, so their cases are not redone
            values["structures"] = ",".join(sorted(only))
        return " ".join(f"{name}={values[name]}" for name in sorted(values) if name not in ignored)

    def output_name(self, case: Case) -> str:
        """The output path relative to OUTDIR (POSIX style, as the manifest records it)."""
        return case.name + format_named(self.output_format).suffix

    def map_files(self, case: Case) -> list[Path]:
        """The probability (and confidence) maps the case writes beside its output."""
        output = Path(self.outdir) / self.output_name(case)
        files = [probability_map_path(output, node, self.probabilities_dtype) for node in self.probabilities]
        return files + ([confidence_map_path(output, self.probabilities_dtype)] if self.confidence else [])

    def plan(self, output: Path) -> OutputPlan:
        return OutputPlan.of(output, self.output_format, probabilities=self.probabilities,
                             probabilities_dtype=self.probabilities_dtype, confidence=self.confidence,
                             uncertain_below=self.uncertain_below)


@dataclass
class CaseOutcome:
    record: CaseRecord
    volumes: list[NodeVolume] = field(default_factory=list)
    statistics: list[NodeStatistics] = field(default_factory=list)


class ModelPlugin(WorkerPlugin):
    """Dask worker plugin: load the model when the worker starts; set torch's thread count.

    Dask's nanny sets ``OMP_NUM_THREADS=1`` in workers, which would leave torch on one core, so
    the thread count is set explicitly (``torch_threads``, or the worker's share of the machine).
    """

    idempotent = False
    name = "saltseg-model"

    def __init__(self, model_dir: str, device: str, workers_per_host: Optional[dict[str, int]] = None,
                 torch_threads: Optional[int] = None) -> None:
        self.model_dir = model_dir
        self.device = device
        self.workers_per_host = workers_per_host or {}
        self.torch_threads = torch_threads

    def setup(self, worker) -> None:
        import torch

        ignore_ctrl_c()  # first: the batch process stops its workers itself (also one restarted later)
        threads = self.torch_threads
        if threads is None:
            sharing = self.workers_per_host.get(worker.address.rsplit(":", 1)[0], 1)
            threads = max(1, (os.cpu_count() or 1) // max(1, sharing))
        torch.set_num_threads(threads)
        loaded_model(self.model_dir, self.device)

    def teardown(self, worker) -> None:
        with _models_lock:
            _models.pop((str(self.model_dir), self.device), None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _worker_label() -> str:
    try:
        return f"{get_worker().name} (pid {os.getpid()})"
    except ValueError:  # not inside a Dask worker (called directly)
        return f"pid {os.getpid()}"


def _device_label(model: SaltModel) -> str:
    pinned = os.environ.get("CUDA_VISIBLE_DEVICES")
    device = str(model.device)
    return f"{device} (GPU {pinned})" if pinned and device.startswith("cuda") else device


def run_case(case: Case, settings: CaseSettings) -> CaseOutcome:
    """Segment one case into OUTDIR; always returns, with status done or failed."""
    started = time.perf_counter()
    output_name = settings.output_name(case)
    output = Path(settings.outdir) / output_name
    record = CaseRecord(case.name, case.input, output_name, FAILED, model=settings.model_id,
                        options=settings.options_signature, worker=_worker_label(),
                        input_fingerprint=case.input_fingerprint())
    written: list[Path] = []
    try:
        plan = settings.plan(output)
        # A source the format cannot reference is refused before minutes of work.
        plan.prepare_source(case.input, DicomSource(case.dicom_files, case.input) if case.is_dicom else None)
        if settings.remote is not None:
            image = read_series(case.dicom_files, case.input) if case.is_dicom else read_image(case.input)
            result, record.device = settings.remote.segment(case, image, settings)
        else:
            model = loaded_model(settings.model_dir, settings.device)
            record.device = _device_label(model)
            image = read_series(case.dicom_files, case.input) if case.is_dicom else read_image(case.input)
            result = segment_image(image, model, settings.options, model_id=settings.model_id,
                                   probabilities=plan.probability_nodes(model.tree), confidence=settings.confidence)
        output.parent.mkdir(parents=True, exist_ok=True)
        plan.remove_stale_parts(before=time.time())  # an earlier attempt's, whose worker was killed mid-write
        written = plan.write(result, image, input_label=case.input)
        volumes = node_volumes(case.name, result.labelmap, result.tree)
        statistics = labelmap_statistics(result.labelmap, image, result.tree, result.statistics_nodes(),
                                         confidence=result.confidence_map() if settings.confidence else None,
                                         uncertain_below=settings.uncertain_below)
        record.structures = len(result.present_values)
        record.output_bytes = output.stat().st_size
        record.output_sha256 = sha256_of(output)
        record.status = DONE
    except Exception as error:  # noqa: BLE001 - one case's failure, whatever it is, must not stop the batch
        for path in written:  # complete files of a failed case must not look like a result
            path.unlink(missing_ok=True)
        record.error = str(error) if isinstance(error, SaltSegError) else f"{type(error).__name__}: {error}"
        logger.info("case %s failed: %s", case.name, record.error)
        volumes, statistics = [], []
    record.seconds = time.perf_counter() - started
    record.finished = _now()
    return CaseOutcome(record, volumes, statistics)
