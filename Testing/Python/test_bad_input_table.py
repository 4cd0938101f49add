"""The documentation's table of bad inputs (docs/safety.md), kept true: every row is run, through
``saltseg segment`` and through the engine service Slicer talks to, and must give the message the
table shows, exit code 1 (an ``error`` event of the named kind for the service, never a
traceback), and leave nothing behind."""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import small_phantom
from cli_support import unwritable_folder
from saltseg.cli import main

README = Path(__file__).resolve().parents[2] / "docs" / "safety.md"
TABLE_HEADING = "## Bad input"
NOT_APPLICABLE = "—"


def write_image(image: sitk.Image, path: Path) -> Path:
    sitk.WriteImage(image, str(path), True)
    return path


def ct(folder: Path, name: str = "ct.nii.gz") -> Path:
    return write_image(small_phantom(3101), folder / name)


def truncated(folder: Path) -> Path:
    data = ct(folder, "full.nii.gz").read_bytes()
    (folder / "full.nii.gz").unlink()
    (folder / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    return folder / "cut.nii.gz"


def no_dicom(folder: Path) -> Path:
    (folder / "scans").mkdir()
    (folder / "scans" / "IM0001").write_bytes(np.random.default_rng(1).bytes(2048))
    (folder / "scans" / "notes.txt").write_text("not a DICOM file\n")
    return folder / "scans"


def empty(folder: Path) -> Path:
    (folder / "empty.nii.gz").write_bytes(b"")
    return folder / "empty.nii.gz"


def junk(folder: Path) -> Path:
    (folder / "junk.nii.gz").write_bytes(np.random.default_rng(0).bytes(4096))
    return folder / "junk.nii.gz"


def nan_ct(folder: Path) -> Path:
    array = sitk.GetArrayFromImage(small_phantom(3101)).astype(np.float32)
    array[2, 3, 4] = np.nan
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((8.0, 8.0, 8.0))
    return write_image(image, folder / "nan.nrrd")


def spacing_in_cm(folder: Path) -> Path:
    image = small_phantom(3101)
    image.SetSpacing((80.0, 80.0, 80.0))
    return write_image(image, folder / "cm.nii.gz")


def hard_link(folder: Path) -> tuple[Path, Path]:
    source = ct(folder)
    os.link(source, folder / "linked.nii.gz")
    return source, folder / "linked.nii.gz"


def detached_scan(folder: Path) -> tuple[Path, Path]:
    """scan.mhd whose voxels sit in labels.zraw: where the output labels.mhd puts its data."""
    image = small_phantom(3101)
    sitk.WriteImage(image, str(folder / "scan.mhd"), True)
    (folder / "scan.zraw").rename(folder / "labels.zraw")
    header = folder / "scan.mhd"
    header.write_text(header.read_text().replace("ElementDataFile = scan.zraw", "ElementDataFile = labels.zraw"))
    return header, folder / "labels.mhd"


@dataclass
class Row:
    """How to make one bad input: ``make(folder)`` → (input, output, extra CLI args, request changes)."""

    make: Callable[[Path], tuple]


def _plain(make_input: Callable[[Path], Path], output: str = "out.nii.gz") -> Row:
    return Row(lambda folder: (make_input(folder), folder / output, [], {}))


ROWS: dict[str, Row] = {
    "input file missing": Row(lambda f: (f / "missing.nii.gz", f / "out.nii.gz", [], {})),
    "input file empty": _plain(empty),
    "input not an image (random bytes)": _plain(junk),
    "input truncated (interrupted copy)": _plain(truncated),
    "folder without a DICOM series": _plain(no_dicom),
    "2D image": _plain(lambda f: write_image(sitk.Image([64, 64], sitk.sitkInt16), f / "2d.nrrd")),
    "4D image": _plain(lambda f: write_image(sitk.Image([8, 8, 8, 3], sitk.sitkInt16), f / "4d.nrrd")),
    "single slice": _plain(lambda f: write_image(sitk.Image([32, 32, 1], sitk.sitkInt16), f / "slice.nrrd")),
    "colour (RGB) image": _plain(lambda f: write_image(sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3),
                                                       f / "rgb.nrrd")),
    "constant image": _plain(lambda f: write_image(sitk.Image([16, 16, 16], sitk.sitkInt16) - 1000,
                                                   f / "flat.nrrd")),
    "NaN voxels": _plain(nan_ct),
    "implausible spacing (cm for mm)": _plain(spacing_in_cm),
    "output is the input": Row(lambda f: (ct(f), f / "ct.nii.gz", [], {})),
    "output is a hard link of the input": Row(lambda f: (*hard_link(f), [], {})),
    "output's data file is the input's (`.mhd`)": Row(lambda f: (*detached_scan(f), [], None)),
    "output inside the input DICOM folder": Row(lambda f: (no_dicom(f), f / "scans" / "out.nii.gz", [], {})),
    "output folder missing": Row(lambda f: (ct(f), f / "missing" / "out.nii.gz", [], {})),
    "output folder not writable": Row(lambda f: (ct(f), unwritable_folder(f / "locked") / "out.nii.gz", [], {})),
    "output is a folder": Row(lambda f: (ct(f), (f / "out.nii.gz").mkdir() or f / "out.nii.gz", [], {})),
    "output format unknown": Row(lambda f: (ct(f), f / "out.txt", [], {})),
    "`--preview` folder missing": Row(lambda f: (ct(f), f / "out.nii.gz", ["--preview", str(f / "no" / "p.png")],
                                                 None)),
    "`--preview` not a .png": Row(lambda f: (ct(f), f / "out.nii.gz", ["--preview", str(f / "p.jpg")], None)),
    "`--mask` of a node the tree lacks": Row(lambda f: (ct(f), f / "out.nii.gz", ["--mask", "body,wings"], None)),
}

#: Requests only the service can get wrong: the raw line sent.
REQUEST_ROWS: dict[str, Callable[[Path, Path], str]] = {
    "request not JSON": lambda ct_file, out: "segment ct.nii.gz please",
    "request a JSON list": lambda ct_file, out: json.dumps([str(ct_file), str(out)]),
    "request without `input`/`output`": lambda ct_file, out: json.dumps({"op": "segment"}),
    "request with an unknown field": lambda ct_file, out: json.dumps(
        {"op": "segment", "input": str(ct_file), "output": str(out), "speed": "max"}),
    "request with an unknown option": lambda ct_file, out: json.dumps(
        {"op": "segment", "input": str(ct_file), "output": str(out), "options": {"overlapp": 0.5}}),
    "option of the wrong type": lambda ct_file, out: json.dumps(
        {"op": "segment", "input": str(ct_file), "output": str(out), "options": {"overlap": "half"}}),
    "option out of range": lambda ct_file, out: json.dumps(
        {"op": "segment", "input": str(ct_file), "output": str(out), "options": {"overlap": 1.5}}),
    "option not a finite number (NaN)": lambda ct_file, out: json.dumps(
        {"op": "segment", "input": str(ct_file), "output": str(out), "options": {"air_threshold_hu": float("nan")}}),
    "unknown request": lambda ct_file, out: json.dumps({"op": "train", "input": str(ct_file), "output": str(out)}),
}


def readme_table() -> dict[str, tuple[str, str, str]]:
    """Row name → (CLI message, service answer, left behind), from the README section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(TABLE_HEADING):]
    section = section[: section.find("\n#", 1)]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[0] == "Bad input":
            continue
        assert len(cells) == 4, f"README table row needs 4 cells: {line}"
        rows[cells[0]] = (cells[1], cells[2], cells[3])
    return rows


def message_pattern(cell: str) -> "re.Pattern[str]":
    """A table cell (message in backticks, … for the parts that vary) as a regular expression."""
    text = cell.strip().strip("`")
    return re.compile(".+?".join(re.escape(part) for part in text.split("…")), re.DOTALL)


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_the_table_lists_every_case_the_tests_run():
    assert set(readme_table()) == set(ROWS) | set(REQUEST_ROWS)
    assert {cells[2] for cells in readme_table().values()} == {"nothing"}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_cli_says_what_the_readme_says_and_leaves_nothing(name, tmp_path, small_threshold_model, capsys):
    cli_cell = readme_table()[name][0]
    folder = tmp_path / "case"
    folder.mkdir()
    source, output, extra, _ = ROWS[name].make(folder)
    before = snapshot(folder)
    code = main(["segment", str(source), "-o", str(output), "--model", str(small_threshold_model), "--device", "cpu",
                 "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 1 and message_pattern(cli_cell).fullmatch(err.strip().splitlines()[-1]), err
    assert "Traceback" not in err and snapshot(folder) == before


class Engine:
    """``python -m saltseg.service serve`` with its events read by a thread (a request's answer
    never blocks the test forever)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "saltseg.service", "serve", "--idle-timeout", "0"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=dict(os.environ))
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        assert self.next_event()["event"] == "ready"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def next_event(self) -> dict:
        return self.events.get(timeout=120)

    def answer(self, line: str) -> dict:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        while True:
            event = self.next_event()
            if event["event"] in ("done", "error"):
                return event

    def close(self) -> str:
        if not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        return "".join(self.stderr)


@pytest.fixture(scope="module")
def engine():
    running = Engine()
    yield running
    running.close()


@pytest.mark.parametrize("name", sorted(ROWS) + sorted(REQUEST_ROWS))
def test_service_answers_what_the_readme_says_and_leaves_nothing(name, engine, tmp_path, small_threshold_model):
    service_cell = readme_table()[name][1]
    folder = tmp_path / "case"
    folder.mkdir()
    if name in REQUEST_ROWS:
        line = REQUEST_ROWS[name](ct(folder), folder / "out.nrrd")
    else:
        source, output, _, changes = ROWS[name].make(folder)
        if changes is None:  # a CLI option the service does not have
            assert service_cell == NOT_APPLICABLE
            return
        line = json.dumps({"op": "segment", "input": str(source), "output": str(output),
                           "model": str(small_threshold_model), "device": "cpu", **changes})
    before = snapshot(folder)
    event = engine.answer(line)
    kind, _, message = service_cell.partition(": ")
    assert event["event"] == "error" and event["type"] == kind.strip("`"), event
    assert message_pattern(message).fullmatch(event["message"]), event
    assert snapshot(folder) == before


def test_service_never_printed_a_traceback_for_a_bad_input(engine):
    for line in ("not json", "[]", json.dumps({"op": "segment"})):
        assert engine.answer(line)["type"] == "RequestError"
    assert "Traceback" not in engine.close()
