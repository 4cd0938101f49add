"""Running a :class:`~.description.SegmentJob`: every check before any work, then segment, then
write every file or none. The command line and the engine service run jobs through here."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..analysis.subsets import resolve_structures
from ..inference.pipeline import SegmentationResult, segment_image
from ..io.dicom_series import choose_series
from ..io.image_io import read_image
from ..io.output_check import check_output_locations, refuse_outputs_on_inputs
from ..io.writers import write_image_file
from ..model.model_io import SaltModel, load_model
from ..outputs.plan import DicomSource, remove_outputs
from ..progress import CancelToken, ProgressCallback
from .description import SegmentJob

#: (model folder, device) → (the model, whether it was already loaded): the service keeps one warm.
ModelLoader = Callable[[Path, str], tuple[SaltModel, bool]]


def load_fresh(folder: Path, device: str) -> tuple[SaltModel, bool]:
    return load_model(folder, device), False


@dataclass
class JobOutcome:
    result: SegmentationResult
    model: SaltModel
    model_reused: bool
    written: list[Path] = field(default_factory=list)
    #: Outputs that existed before and were replaced.
    replaced: list[Path] = field(default_factory=list)
    #: The probability maps written, by the node's tree path (``probabilities``).
    probability_maps: dict[str, Path] = field(default_factory=dict)
    #: The chosen leaf's probability map (``confidence``), or None.
    confidence_map: Optional[Path] = None


def resolve_job_model(job: SegmentJob) -> tuple[Path, str]:
    """(model folder, model id): a folder is named by its folder name, an id by itself, none by the
    default model's id."""
    from .. import models as registry

    spec = job.model
    if spec and Path(spec).is_dir():
        return Path(spec), Path(spec).name
    folder = registry.resolve_model_dir(spec or None, catalog_file=job.catalog, home=job.home)
    return Path(folder), spec or registry.DEFAULT_MODEL_ID


def dicom_source(path: Path) -> Optional[DicomSource]:
    """The DICOM series ``read_image`` segments in ``path`` (same choice rule), or None for a file."""
    return DicomSource(choose_series(path).files, str(path)) if path.is_dir() else None


def run_job(job: SegmentJob, load: ModelLoader = load_fresh, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None) -> JobOutcome:
    """Run ``job``; raises the engine's errors (:class:`~saltseg.errors.SaltSegError`) before any
    work where it can, and leaves no file of a failed job behind."""
    plan = job.plan()
    transfer = [job.labelmap] if job.labelmap is not None else []
    if plan is not None:
        needs_source = plan.format is not None and plan.format.needs_dicom_source
        plan.check_early([job.input], dicom_source(job.input) if needs_source else None)
    refuse_outputs_on_inputs(transfer, [job.input], compress=False)  # as written below
    folder, model_id = resolve_job_model(job)
    image = read_image(job.input)
    check_output_locations(transfer, voxels=image.GetNumberOfPixels())
    model, reused = load(folder, job.device)
    replaced = plan.check(model.tree, [job.input], image.GetNumberOfPixels()) if plan is not None else []
    if job.options.only:
        resolve_structures(model.tree, job.options.only)  # a typo fails before minutes of work
    nodes = plan.probability_nodes(model.tree) if plan is not None else []
    result = segment_image(image, model, job.options, progress, cancel, model_id=model_id,
                           probabilities=nodes, confidence=job.confidence)
    written = plan.write(result, image, input_label=str(job.input)) if plan is not None else []
    try:
        for path in transfer:
            written += write_image_file(result.labelmap, path, compress=False)
    except BaseException:
        remove_outputs(written)
        raise
    maps = plan.probability_paths(model.tree) if plan is not None else {}
    return JobOutcome(result, model, reused, written, replaced, maps,
                      plan.confidence_path if plan is not None else None)
