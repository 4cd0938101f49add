"""``run_batch``: discover the cases, skip the finished ones, run the rest on Dask, keep the tables.

    from saltseg.batch import run_batch
    records = run_batch(["cohort/"], "out/", model="salt-phantom-demo", workers=2)
    [r.case for r in records if r.status == "failed"]
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Optional, Sequence, Union

from tqdm import tqdm

from ..errors import InputImageError, SaltSegError
from ..inference.pipeline import SegmentOptions
from ..io.output_check import refuse_outputs_on_inputs
from ..analysis.statistics import UNCERTAIN_BELOW
from ..model.model_io import check_model_dir, read_config
from ..model.run_defaults import read_run_defaults
from ..outputs.probability_maps import check_dtype
from ..models import DEFAULT_MODEL_ID, resolve_model_dir
from .cases import Case, discover_cases
from .cluster import (DEFAULT_ALLOWED_FAILURES, ClusterError, ClusterSettings, allowed_failures_of, batch_client,
                      gpu_resources, workers_per_host)
from .manifest import DONE, FAILED, MANIFEST_FILE, SKIPPED, CaseRecord, finished_problem
from ..outputs.formats import OutputFormat, format_named
from ..outputs.plan import OutputPlan
from .output_folder import locked_output_folder, output_folder_path
from .tables import BatchTables
from .worker import CaseOutcome, CaseSettings, ModelPlugin, run_case

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def _plan(cases: Sequence[Case], tables: BatchTables, settings: CaseSettings) -> tuple[list[Case], list[CaseRecord]]:
    """Split the cases into those to compute and the records of those already finished."""
    pending: list[Case] = []
    skipped: list[CaseRecord] = []
    outdir = Path(settings.outdir)
    for case in cases:
        previous = tables.previous(case.name)
        problem = finished_problem(previous, outdir, settings.output_name(case), settings.model_id,
                                   case.input_fingerprint(), settings.options_signature)
        if problem is None and not tables.has_volumes(case.name):
            problem = "its volumes are missing from volumes.csv"
        if problem is None and not tables.has_statistics(case.name):
            problem = "its statistics are missing from statistics.csv"
        if problem is None and not all(path.is_file() for path in settings.map_files(case)):
            problem = "its probability maps are missing"
        if problem is None:
            assert previous is not None  # finished_problem: "not run before" without a record
            skipped.append(dataclasses.replace(previous, status=SKIPPED, error=""))
        else:
            if previous is not None:
                logger.info("case %s: segmenting again (%s)", case.name, problem)
            pending.append(case)
    return pending, skipped


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the batch: the cases finished so far are recorded, the workers are stopped,
    and no partial output is left; a re-run of the same command does the others."""

    def __init__(self, done: int, failed: int, total: int, manifest: Path) -> None:
        super().__init__(done, failed, total, manifest)
        self.done, self.failed, self.total, self.manifest = done, failed, total, manifest

    def __str__(self) -> str:
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (f"interrupted; {self.done} of {self.total} cases done{failed}, recorded in {self.manifest}; "
                "rerun the same command to resume")


def _remove_partial_outputs(cases: Sequence[Case], settings: CaseSettings) -> None:
    """The temporary files of the outputs that stopped workers were writing (they never appear
    under the outputs' names, and nothing else writes them: this run holds the folder's lock)."""
    now = time.time()
    for case in cases:
        settings.plan(Path(settings.outdir) / settings.output_name(case)).remove_stale_parts(before=now)


def batch_cases(inputs: Sequence[Union[str, Path]], outdir: Union[str, Path],
                output_format: str) -> tuple[OutputFormat, Path, list[Case]]:
    """The output format, folder and cases of a batch, every check of the whole cohort done: run
    before the output folder is made, so a refused batch leaves no folder and no lock behind."""
    fmt = format_named(output_format)
    if fmt.require is not None:  # once for the batch, not as a failure of every case
        fmt.require()
    folder = output_folder_path(outdir)
    cases = discover_cases(inputs, exclude=folder)
    if not cases:
        raise InputImageError(f"no CT found in {', '.join(map(str, inputs))} (NIfTI/NRRD/MHA files, "
                              "DICOM series or a CSV list with an 'input' column)")
    _refuse_outputs_on_inputs(cases, folder, fmt)
    return fmt, folder, cases


def _refuse_outputs_on_inputs(cases: Sequence[Case], outdir: Path, fmt: OutputFormat) -> None:
    """No case's output (or its label table) may replace any input of the cohort or land in an
    input DICOM folder: checked for the whole cohort before any work."""
    outputs = [path for case in cases for path in OutputPlan(outdir / (case.name + fmt.suffix), fmt).files()]
    refuse_outputs_on_inputs(outputs, [case.input for case in cases])


def _collect(future, case: Case, settings: CaseSettings, allowed_failures: int) -> CaseOutcome:
    """The case's outcome, or a failed record when its worker kept dying or Dask failed."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        deaths = allowed_failures + 1
        error = (f"the worker process died {deaths} time{'s' if deaths > 1 else ''} while segmenting this case "
                 "(killed, or out of memory?); gave up")
    except Exception as exc:  # noqa: BLE001 - a lost connection or cancelled task fails this case only
        error = f"{type(exc).__name__}: {exc}"
    record = CaseRecord(case.name, case.input, settings.output_name(case), FAILED, error=error,
                        model=settings.model_id, options=settings.options_signature,
                        input_fingerprint=case.input_fingerprint())
    return CaseOutcome(record, [], [])


def summarize(records: Sequence[CaseRecord], elapsed_s: float) -> str:
    """``12 done, 1 failed, 3 skipped in 4.2 min (171 cases/hour)``."""
    counts = {status: sum(1 for r in records if r.status == status) for status in (DONE, FAILED, SKIPPED)}
    rate = counts[DONE] / elapsed_s * 3600 if elapsed_s > 0 and counts[DONE] else 0.0
    took = f"{elapsed_s:.1f} s" if elapsed_s < 120 else f"{elapsed_s / 60:.1f} min"
    return (f"{counts[DONE]} done, {counts[FAILED]} failed, {counts[SKIPPED]} skipped in {took}"
            + (f" ({rate:.0f} cases/hour)" if rate else ""))


def _run_pending(pending: list[Case], settings: CaseSettings, cluster: ClusterSettings,
                 tables: BatchTables, total: int, show: bool, own_client=None) -> None:
    with batch_client(cluster, own_client) as (client, description):
        if show:
            print(f"{len(pending)} case(s) to segment on a {description}", file=sys.stderr)
        plugin = ModelPlugin(settings.model_dir, settings.device, workers_per_host(client))
        try:
            client.register_plugin(plugin)
        except SaltSegError:
            raise
        except Exception as error:  # noqa: BLE001 - an error raised on a worker, re-raised here
            raise ClusterError(f"the workers cannot load the model: {error}") from error
        from distributed import as_completed

        allowed_failures = allowed_failures_of(client)
        resources = gpu_resources(client, settings.device)
        run_id = uuid.uuid4().hex[:8]
        futures = {client.submit(run_case, case, settings, key=f"saltseg-{run_id}-{case.name}", pure=False,
                                 resources=resources): case
                   for case in pending}
        with tqdm(total=total, initial=total - len(pending), unit="case", desc="cases", file=sys.stderr,
                  disable=not show, dynamic_ncols=True) as bar:
            for future in as_completed(futures):
                outcome = _collect(future, futures[future], settings, allowed_failures)
                tables.set(outcome.record, outcome.volumes, outcome.statistics)
                tables.save()
                bar.update(1)
                if show and outcome.record.status == FAILED:
                    bar.write(f"failed: {outcome.record.case}: {outcome.record.error}", file=sys.stderr)


def with_model_placement(options: SegmentOptions, model_dir: Path) -> SegmentOptions:
    """``options`` with the window placement that will run: the user's, else the model's certified
    one, so that the manifest records (and compares) what really made the labels."""
    if options.window_placement is not None:
        return options
    return dataclasses.replace(options, window_placement=read_run_defaults(model_dir).window_placement)


def run_batch(inputs: Sequence[PathLike], outdir: PathLike, *, model: Optional[PathLike] = None,
              device: str = "auto", output_format: str = "seg.nrrd", options: Optional[SegmentOptions] = None,
              workers: Optional[int] = None, threads_per_worker: int = 1, scheduler: Optional[str] = None,
              allowed_failures: Optional[int] = None, catalog: Optional[PathLike] = None,
              progress: bool = True, client=None, probabilities: Sequence[str] = (),
              probabilities_dtype: str = "uint8", confidence: bool = False,
              uncertain_below: float = UNCERTAIN_BELOW) -> list[CaseRecord]:
    """Segment every case of ``inputs`` into ``outdir``; returns one record per case (done, failed
    or skipped), in case order. ``outdir/manifest.csv`` and ``outdir/volumes.csv`` hold the same
    records and every node's volume, across runs. ``client``: run on this ``distributed.Client``
    instead of starting a cluster (``workers`` and ``scheduler`` are then unused).

    Raises :class:`SaltSegError` only for problems of the whole batch (no inputs, unknown model,
    unreachable cluster, workers that cannot load the model); a bad case is a failed row.
    ``probabilities`` etc.: the probability maps of each case, as ``saltseg segment`` writes them
    (node names are checked against the model's tree before any work)."""
    started = time.perf_counter()
    fmt, outdir, cases = batch_cases(inputs, outdir, output_format)
    cluster = ClusterSettings(scheduler, workers, threads_per_worker, device,
                              DEFAULT_ALLOWED_FAILURES if allowed_failures is None else allowed_failures)
    model_dir = resolve_model_dir(model, catalog_file=catalog)
    model_id = str(model) if model is not None else DEFAULT_MODEL_ID
    settings = CaseSettings(str(outdir), str(model_dir.absolute()), model_id, device, fmt.name,
                            with_model_placement(options or SegmentOptions(), model_dir),
                            probabilities_dtype=check_dtype(probabilities_dtype), confidence=confidence,
                            uncertain_below=uncertain_below)
    if probabilities:  # by tree path: a typo fails now, and each case's map files are known
        tree = read_config(check_model_dir(model_dir)[1]).tree
        nodes = OutputPlan(None, None, probabilities=tuple(probabilities)).probability_nodes(tree)
        settings = dataclasses.replace(settings, probabilities=tuple(tree.node_id(node) for node in nodes))
    with locked_output_folder(outdir):
        tables = BatchTables(outdir)
        pending, skipped = _plan(cases, tables, settings)
        for record in skipped:
            tables.set(record)
        try:
            if pending:
                _run_pending(pending, settings, cluster, tables, len(cases), progress, client)
        except KeyboardInterrupt:
            if client is None and scheduler is None:  # our own workers are gone: nothing writes any more
                _remove_partial_outputs(pending, settings)
            statuses = [record.status for record in tables.records.values()]
            raise BatchInterrupted(statuses.count(DONE) + statuses.count(SKIPPED), statuses.count(FAILED),
                                   len(cases), outdir / MANIFEST_FILE) from None
        finally:
            tables.save(force=True)  # also on Ctrl-C: finished cases stay recorded
        records = [tables.records[case.name] for case in cases]
    if progress:
        print(summarize(records, time.perf_counter() - started), file=sys.stderr)
    return records
