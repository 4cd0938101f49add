"""The batch's two tables in memory, saved atomically and often enough that a crash of the client
loses at most a few seconds of finished cases (they are then simply segmented again)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from .manifest import CaseRecord, read_manifest, write_manifest
from ..analysis.statistics import NodeStatistics
from .statistics_table import read_statistics, write_statistics_table
from .volumes import NodeVolume, read_volumes, write_volumes

#: Never rewrite the tables more often than this; grows with the time one save takes (big cohorts).
MIN_SAVE_INTERVAL_S = 1.0


class BatchTables:
    """``manifest.csv``, ``volumes.csv`` and ``statistics.csv`` of one OUTDIR, including cases of
    earlier runs."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.records: dict[str, CaseRecord] = read_manifest(outdir)
        self.volumes: dict[str, list[NodeVolume]] = read_volumes(outdir)
        self.statistics: dict[str, list[NodeStatistics]] = read_statistics(outdir)
        self._saved_at = 0.0
        self._interval = MIN_SAVE_INTERVAL_S
        self._dirty = False

    def previous(self, case: str) -> Optional[CaseRecord]:
        return self.records.get(case)

    def has_volumes(self, case: str) -> bool:
        return bool(self.volumes.get(case))

    def has_statistics(self, case: str) -> bool:
        return bool(self.statistics.get(case))

    def set(self, record: CaseRecord, volumes: Optional[list[NodeVolume]] = None,
            statistics: Optional[list[NodeStatistics]] = None) -> None:
        """Record a case; ``volumes``/``statistics`` None keep the rows it has (a skipped case)."""
        self.records[record.case] = record
        if volumes is not None:
            self.volumes[record.case] = volumes
        if statistics is not None:
            self.statistics[record.case] = statistics
        self._dirty = True

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._dirty or (not force and now - self._saved_at < self._interval):
            return
        # Tables first: a manifest row marked done always has its volumes and statistics on disk.
        write_statistics_table(self.outdir, ((case, row) for case in sorted(self.statistics) if case in self.records
                                             for row in self.statistics[case]))
        write_volumes(self.outdir, (row for case in sorted(self.volumes) if case in self.records
                                    for row in self.volumes[case]))
        write_manifest(self.outdir, self.records.values())
        took = time.monotonic() - now
        self._saved_at = time.monotonic()
        self._interval = max(MIN_SAVE_INTERVAL_S, 10.0 * took)
        self._dirty = False
