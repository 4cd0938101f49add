"""``OUTDIR/manifest.csv``: one :class:`CaseRecord` per case, and the rule for skipping on a re-run.

A case counts as finished only when its record says done (or skipped: done in an earlier run), it
was made by the same model with the same label-affecting segment options from the same input, and
its output is still there with the size and SHA-256 that were recorded — so a truncated, replaced or deleted output is
segmented again.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Optional

from ..atomic import atomic_write
from ..errors import OutputError

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.csv"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass
class CaseRecord:
    """One manifest row. ``output`` is relative to OUTDIR; ``seconds`` is the worker's time on the case."""

    case: str
    input: str
    output: str
    status: str  # done | failed | skipped
    error: str = ""
    seconds: float = 0.0
    device: str = ""
    model: str = ""
    options: str = ""  # the segment options that can change labels, e.g. "overlap=0.5 window_placement=salt ..."
    worker: str = ""
    structures: int = 0
    output_bytes: int = 0
    output_sha256: str = ""
    input_fingerprint: str = ""
    finished: str = ""  # UTC time the case was last computed (ISO 8601)

    def to_row(self) -> dict[str, str]:
        row = asdict(self)
        row["seconds"] = f"{self.seconds:.3f}"
        return {key: str(value) for key, value in row.items()}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "CaseRecord":
        values: dict = {}
        for item in fields(cls):
            text = row.get(item.name) or ""
            if item.type == "float":
                values[item.name] = float(text or 0)
            elif item.type == "int":
                values[item.name] = int(text or 0)
            else:
                values[item.name] = text
        return cls(**values)


COLUMNS = [item.name for item in fields(CaseRecord)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(outdir: Path) -> dict[str, CaseRecord]:
    """The records of an earlier run, by case name (empty when there is none)."""
    path = outdir / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "case" not in reader.fieldnames:
                raise OutputError(f"{path} is not a saltseg batch manifest (no 'case' column); "
                                  "choose another output folder")
            return {row["case"]: CaseRecord.from_row(row) for row in reader}
    except (ValueError, csv.Error) as error:
        raise OutputError(f"{path} is damaged ({error}); move it away to start the batch afresh") from error


def write_manifest(outdir: Path, records: Iterable[CaseRecord]) -> Path:
    """Write every record, sorted by case, replacing the file atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in sorted(records, key=lambda r: r.case):
        writer.writerow(record.to_row())
    text = buffer.getvalue()
    return atomic_write(outdir / MANIFEST_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def finished_problem(record: Optional[CaseRecord], outdir: Path, output: str, model: str,
                     fingerprint: str, options: str = "") -> Optional[str]:
    """Why the case must be (re)computed, or None when its recorded output is complete and current."""
    if record is None:
        return "not run before"
    if record.status not in (DONE, SKIPPED):
        return f"status {record.status}"
    if record.output != output:
        return f"recorded output {record.output} is not the requested {output}"
    if record.model != model:
        return f"made by model {record.model}, not {model}"
    if record.options != options:
        return f"made with other segment options ({record.options or 'unknown'}, now {options or 'none'})"
    if record.input_fingerprint != fingerprint:
        return "the input changed since"
    path = outdir / output
    if not path.is_file():
        return "output is missing"
    if path.stat().st_size != record.output_bytes or sha256_of(path) != record.output_sha256:
        return "output differs from the recorded size/checksum"
    return None
