"""Writing statistics and scores as CSV or JSON, atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from collections import defaultdict
from typing import Callable, Iterable, Mapping, Sequence, TypeVar, Union

from ..atomic import atomic_write
from ..errors import OutputError
from .statistics import NodeStatistics, statistics_columns

TABLE_SUFFIXES = (".csv", ".json")


def check_table_path(path: Union[str, Path], what: str = "table") -> Path:
    """Fail before any work when ``path`` cannot take a CSV/JSON table."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise OutputError(f"the {what} file must end in .csv or .json, got {path.name}")
    if not path.parent.is_dir():
        raise OutputError(f"output folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    return path


def csv_text(rows: Iterable[Mapping[str, str]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


Row = TypeVar("Row")


def read_rows_by_case(path: Path, from_row: Callable[[dict], Row]) -> dict[str, list[Row]]:
    """A per-case table of an earlier run (``case`` column), by case; empty when there is none."""
    by_case: dict[str, list[Row]] = defaultdict(list)
    if not path.is_file():
        return by_case
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                by_case[row["case"]].append(from_row(row))
    except (KeyError, ValueError, csv.Error) as error:
        raise OutputError(f"{path} is damaged ({error}); delete it and the cases are measured again") from error
    return by_case


def write_text(path: Union[str, Path], text: str) -> Path:
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_statistics(rows: Sequence[NodeStatistics], path: Union[str, Path], **extra) -> Path:
    """``.csv``: one row per node (:func:`~.statistics.statistics_columns`); ``.json``: ``{"nodes": [...]}``
    plus ``extra`` fields (e.g. the input files)."""
    path = check_table_path(path, "statistics")
    if path.suffix.lower() == ".json":
        document = {"format": "saltseg-statistics", "version": 1, **extra,
                    "nodes": [row.to_dict() for row in rows]}
        return write_text(path, json.dumps(document, indent=1))
    return write_text(path, csv_text((row.to_row() for row in rows), statistics_columns(rows)))
