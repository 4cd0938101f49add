"""``saltseg batch --server URL``: a cohort segmented on one SALT server, resumably.

The same cases, outputs, tables and re-run rules as a batch on a Dask cluster (:mod:`.runner`),
and the same per-case work (:func:`.worker.run_case`), except that each case's labels come from the
server (:mod:`saltseg.remote.remote_job`): two cases are in flight at a time, so that the next
CT uploads while the server segments the current one, and the server's queue keeps them in order.
Every output is written here. For a cohort on many machines, a Dask cluster (``--scheduler``) is
the way; a server serves one GPU.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from tqdm import tqdm

from ..analysis.statistics import UNCERTAIN_BELOW
from ..inference.options import SegmentOptions
from ..outputs.plan import OutputPlan
from ..outputs.probability_maps import check_dtype
from ..progress import CancelToken
from ..remote.address import ServerAddress
from ..remote.client import ServerConnection
from ..remote.errors import ServerError
from ..remote.remote_job import labels_request, segment_on_server, server_tree
from ..remote.remote_maps import maps_request
from .cases import Case
from .manifest import DONE, FAILED, MANIFEST_FILE, SKIPPED, CaseRecord
from .output_folder import locked_output_folder
from .runner import BatchInterrupted, _plan, batch_cases, summarize
from .tables import BatchTables
from .worker import CaseSettings, run_case

logger = logging.getLogger(__name__)

#: Cases in flight: one on the server, the next uploading or waiting in its queue.
IN_FLIGHT = 2


@dataclass(frozen=True)
class RemoteCases:
    """How :func:`.worker.run_case` segments a case on the server."""

    address: ServerAddress
    model: Optional[str]
    cancel: CancelToken

    def segment(self, case: Case, image: Any, settings: CaseSettings) -> tuple[Any, str]:
        request = {**labels_request(self.model, settings.options),
                   **maps_request(settings.probabilities, settings.confidence)}
        with tempfile.TemporaryDirectory(prefix="saltseg-remote-") as scratch:
            result, described = segment_on_server(ServerConnection(self.address), Path(case.input), image, request,
                                                  Path(scratch), cancel=self.cancel)
        return result, f"{described.get('device', '?')} at {self.address.url}"


def run_remote_batch(inputs: Sequence[Union[str, Path]], outdir: Union[str, Path], server: ServerAddress, *,
                     model: Optional[str] = None, output_format: str = "seg.nrrd",
                     options: Optional[SegmentOptions] = None, progress: bool = True,
                     probabilities: Sequence[str] = (), probabilities_dtype: str = "uint8", confidence: bool = False,
                     uncertain_below: float = UNCERTAIN_BELOW) -> list[CaseRecord]:
    """As :func:`.runner.run_batch`, on the server at ``server`` (its default model: ``model`` None)."""
    started = time.perf_counter()
    fmt, outdir, cases = batch_cases(inputs, outdir, output_format)
    connection = ServerConnection(server)
    listed = connection.models()
    model_id = model or str(listed.get("default", ""))
    if model_id not in {row.get("id") for row in listed.get("models", [])}:
        raise ServerError(f"the server at {server.url} has no model {model_id!r}")
    tree = server_tree(connection, model_id)
    nodes = OutputPlan(None, None, probabilities=tuple(probabilities)).probability_nodes(tree)
    cancel = CancelToken()
    settings = CaseSettings(str(outdir), "", model_id, "auto", fmt.name, options or SegmentOptions(),
                            tuple(tree.node_id(node) for node in nodes), check_dtype(probabilities_dtype),
                            confidence, uncertain_below, RemoteCases(server, model, cancel))
    with locked_output_folder(outdir):
        tables = BatchTables(outdir)
        pending, skipped = _plan(cases, tables, settings)
        for record in skipped:
            tables.set(record)
        try:
            _run_pending(pending, settings, tables, len(cases), progress, server.url)
        except KeyboardInterrupt:
            statuses = [record.status for record in tables.records.values()]
            raise BatchInterrupted(statuses.count(DONE) + statuses.count(SKIPPED), statuses.count(FAILED),
                                   len(cases), outdir / MANIFEST_FILE) from None
        finally:
            tables.save(force=True)
        records = [tables.records[case.name] for case in cases]
    if progress:
        print(summarize(records, time.perf_counter() - started), file=sys.stderr)
    return records


def _run_pending(pending: list[Case], settings: CaseSettings, tables: BatchTables, total: int, show: bool,
                 url: str) -> None:
    assert settings.remote is not None
    if show and pending:
        print(f"{len(pending)} case(s) to segment on the SALT server at {url}", file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="saltseg-case")
    futures: dict[Future, Case] = {}
    try:
        futures = {pool.submit(run_case, case, settings): case for case in pending}
        with tqdm(total=total, initial=total - len(pending), unit="case", desc="cases", file=sys.stderr,
                  disable=not show, dynamic_ncols=True) as bar:
            for future in as_completed(futures):
                outcome = future.result()
                record = dataclasses.replace(outcome.record, worker=url)
                tables.set(record, outcome.volumes, outcome.statistics)
                tables.save()
                bar.update(1)
                if show and record.status == FAILED:
                    bar.write(f"failed: {record.case}: {record.error}", file=sys.stderr)
    except BaseException:
        settings.remote.cancel.cancel()  # the cases in flight stop, and their jobs are deleted on the server
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
