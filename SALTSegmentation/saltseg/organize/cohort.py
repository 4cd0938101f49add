"""``saltseg batch --organize``: a cohort of existing segmentations (e.g. TotalSegmentator's) placed
in the label tree, with the batch's ``manifest.csv`` and per-node ``volumes.csv``.

Organising needs no model and takes well under a second per case, so the cases run one after the
other in this process (no cluster). Everything else is the batch's: the output layout mirrors the
input, every file appears only complete, and a re-run skips the cases whose recorded output is
still there and unchanged (same scheme, same input).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence, Union

from tqdm import tqdm

from ..batch.cases import Case, image_stem
from ..batch.manifest import DONE, FAILED, SKIPPED, CaseRecord, finished_problem, sha256_of
from ..batch.output_folder import locked_output_folder, output_folder_path
from ..batch.tables import BatchTables
from ..batch.volumes import node_volumes
from ..errors import InputImageError, OutputError, SaltSegError
from ..io.writers import write_result
from .dicom_seg_input import is_dicom_seg
from .inputs import MASK_SUFFIXES
from .mapping import MODEL_ID_PREFIX, detect_scheme
from .organize_file import organise_input

logger = logging.getLogger(__name__)

FORMATS = {"seg.nrrd": ".seg.nrrd", "nii.gz": ".nii.gz"}
PathLike = Union[str, Path]


def _segmentation_stem(name: str, folder: Optional[Path] = None) -> Optional[str]:
    lower = name.lower()
    if lower.endswith(".seg.nrrd"):
        return name[: -len(".seg.nrrd")]
    if lower.endswith(".dcm") and folder is not None and is_dicom_seg(folder / name):
        return name[: -len(".seg.dcm")] if lower.endswith(".seg.dcm") else name[: -len(".dcm")]
    return image_stem(name)


def _is_mask_folder(folder: Path, files: Sequence[str]) -> bool:
    """A folder of per-structure masks (TotalSegmentator's default output): most file names are
    structure names a scheme knows."""
    stems = [s for s in (image_stem(f) for f in files if f.lower().endswith(MASK_SUFFIXES)) if s]
    if len(stems) < 2:
        return False
    _, known = detect_scheme(stems)
    return known >= max(2, len(stems) // 2)


def discover_segmentations(inputs: Sequence[PathLike], exclude: Optional[Path] = None) -> list[Case]:
    """Every segmentation of the INPUTs: labelmap files, ``.seg.nrrd`` files, DICOM SEG files and
    mask folders."""
    cases: list[Case] = []
    excluded = exclude.resolve() if exclude is not None else None
    for item in inputs:
        root = Path(item).expanduser().absolute()
        if not root.exists():
            raise InputImageError(f"input {root} does not exist")
        if root.is_file():
            cases.append(Case(_segmentation_stem(root.name) or root.name, str(root)))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            folder = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                 and (excluded is None or (folder / d).resolve() != excluded))
            visible = sorted(f for f in filenames if not f.startswith("."))
            relative = folder.relative_to(root).as_posix()
            if _is_mask_folder(folder, visible):
                cases.append(Case(relative if relative != "." else root.name, str(folder)))
                continue
            for filename in visible:
                stem = _segmentation_stem(filename, folder)
                if stem is not None:
                    cases.append(Case(str(PurePosixPath(relative, stem)) if relative != "." else stem,
                                      str(folder / filename)))
    names: dict[str, Case] = {}
    for case in cases:
        other = names.setdefault(case.name.lower(), case)
        if other is not case:
            raise InputImageError(f"two inputs would both be written as case '{case.name}': {other.input} "
                                  f"and {case.input}")
    return cases


def _fingerprint(case: Case) -> str:
    path = Path(case.input)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    try:
        stats = [p.stat() for p in files]
    except OSError:
        return "missing"
    return f"{len(stats)}:{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}"


def organise_case(case: Case, outdir: Path, scheme: str, output_format: str) -> tuple[CaseRecord, list]:
    """Organise one case; never raises (a bad case is a failed record with its reason)."""
    started = time.perf_counter()
    output_name = case.name + FORMATS[output_format]
    output = outdir / output_name
    record = CaseRecord(case.name, case.input, output_name, FAILED, model=MODEL_ID_PREFIX + scheme,
                        options=f"scheme={scheme}", worker=f"pid {os.getpid()}",
                        input_fingerprint=_fingerprint(case))
    volumes: list = []
    try:
        result = organise_input(case.input, scheme)
        output.parent.mkdir(parents=True, exist_ok=True)
        write_result(result.labelmap, output, result.tree,
                     *result.written_model_ids(MODEL_ID_PREFIX + result.placement.scheme))
        volumes = node_volumes(case.name, result.labelmap, result.tree)
        record.structures = result.placement.matched
        record.output_bytes = output.stat().st_size
        record.output_sha256 = sha256_of(output)
        record.status = DONE
        if result.placement.unmapped:  # kept in the output under 'unmapped'; said in the manifest
            record.error = f"unmapped: {', '.join(result.placement.unmapped)}"
    except Exception as error:  # noqa: BLE001 - one case's failure must not stop the cohort
        record.error = str(error) if isinstance(error, SaltSegError) else f"{type(error).__name__}: {error}"
        volumes = []
    record.seconds = time.perf_counter() - started
    record.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record, volumes


def run_organize_batch(inputs: Sequence[PathLike], outdir: PathLike, *, scheme: str = "auto",
                       output_format: str = "seg.nrrd", progress: bool = True) -> list[CaseRecord]:
    """Organise every segmentation of ``inputs`` into ``outdir``; one record per case."""
    if output_format not in FORMATS:
        raise OutputError(f"--organize writes {' or '.join(FORMATS)}, not {output_format!r}")
    # Every check before the output folder is made: a refused run leaves no folder and no lock.
    folder = output_folder_path(outdir)
    cases = discover_segmentations(inputs, exclude=folder)
    if not cases:
        raise InputImageError(f"no segmentation found in {', '.join(map(str, inputs))} (labelmaps, "
                              ".seg.nrrd files or folders of masks)")
    with locked_output_folder(folder) as outdir:
        tables = BatchTables(outdir)
        try:
            for case in tqdm(cases, unit="case", desc="organizing", file=sys.stderr, disable=not progress):
                previous = tables.previous(case.name)
                problem = finished_problem(previous, outdir, case.name + FORMATS[output_format],
                                           MODEL_ID_PREFIX + scheme, _fingerprint(case), f"scheme={scheme}")
                if problem is None and tables.has_volumes(case.name):
                    tables.set(CaseRecord(**{**previous.__dict__, "status": SKIPPED}))
                    continue
                record, volumes = organise_case(case, outdir, scheme, output_format)
                tables.set(record, volumes)
                tables.save()
        finally:
            tables.save(force=True)
        records = [tables.records[case.name] for case in cases]
    return records
