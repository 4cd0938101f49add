"""Writing statistics and scores as CSV or JSON, atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

from ..atomic import atomic_write
from ..errors import OutputError
from .statistics import COLUMNS, NodeStatistics

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


def write_text(path: Union[str, Path], text: str) -> Path:
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_statistics(rows: Sequence[NodeStatistics], path: Union[str, Path], **extra) -> Path:
    """``.csv``: one row per node (:data:`~.statistics.COLUMNS`); ``.json``: ``{"nodes": [...]}``
    plus ``extra`` fields (e.g. the input files)."""
    path = check_table_path(path, "statistics")
    if path.suffix.lower() == ".json":
        document = {"format": "saltseg-statistics", "version": 1, **extra,
                    "nodes": [row.to_dict() for row in rows]}
        return write_text(path, json.dumps(document, indent=1))
    return write_text(path, csv_text((row.to_row() for row in rows), COLUMNS))
