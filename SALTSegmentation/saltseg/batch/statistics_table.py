"""``OUTDIR/statistics.csv``: every tree node's voxels, volume and CT intensity statistics per case.

The columns are those of ``saltseg segment --statistics`` with ``case`` in front. ``volumes.csv``
stays as it was (scripts read it); this table adds the intensities.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from ..analysis.statistics import COLUMNS, NodeStatistics
from ..analysis.tables import csv_text, write_text
from ..errors import OutputError

STATISTICS_FILE = "statistics.csv"
TABLE_COLUMNS = ("case",) + COLUMNS


def read_statistics(outdir: Path) -> dict[str, list[NodeStatistics]]:
    """Rows of an earlier run, by case."""
    path = outdir / STATISTICS_FILE
    by_case: dict[str, list[NodeStatistics]] = defaultdict(list)
    if not path.is_file():
        return by_case
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                by_case[row["case"]].append(NodeStatistics.from_row(row))
    except (KeyError, ValueError, csv.Error) as error:
        raise OutputError(f"{path} is damaged ({error}); delete it and the cases are measured again") from error
    return by_case


def write_statistics_table(outdir: Path, rows: Iterable[tuple[str, NodeStatistics]]) -> Path:
    """``rows``: (case, statistics) pairs in table order."""
    text = csv_text(({"case": case, **row.to_row()} for case, row in rows), TABLE_COLUMNS)
    return write_text(outdir / STATISTICS_FILE, text)
