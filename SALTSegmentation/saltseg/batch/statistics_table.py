"""``OUTDIR/statistics.csv``: every tree node's voxels, volume and CT intensity statistics per case.

The columns are those of ``saltseg segment --statistics`` with ``case`` in front (with
``--confidence``, also ``mean_probability`` and ``uncertain_ml``). ``volumes.csv``
stays as it was (scripts read it); this table adds the intensities.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..analysis.statistics import COLUMNS, NodeStatistics, statistics_columns
from ..analysis.tables import csv_text, read_rows_by_case, write_text

STATISTICS_FILE = "statistics.csv"
TABLE_COLUMNS = ("case",) + COLUMNS


def read_statistics(outdir: Path) -> dict[str, list[NodeStatistics]]:
    """Rows of an earlier run, by case."""
    return read_rows_by_case(outdir / STATISTICS_FILE, NodeStatistics.from_row)


def write_statistics_table(outdir: Path, rows: Iterable[tuple[str, NodeStatistics]]) -> Path:
    """``rows``: (case, statistics) pairs in table order; ``mean_probability`` and ``uncertain_ml``
    are columns when a case has them (``--confidence``), empty for the cases without."""
    rows = list(rows)
    columns = ("case",) + statistics_columns(row for _, row in rows)
    text = csv_text(({"case": case, **row.to_row()} for case, row in rows), columns)
    return write_text(outdir / STATISTICS_FILE, text)
