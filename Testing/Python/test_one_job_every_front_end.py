"""One segmentation job, the same in every front end: the same CT with the same non-default options
(--fast, --only two subtrees, --statistics, DICOM SEG output) through ``saltseg segment``, a one-case
``saltseg batch``, the engine service and the Slicer console (real MRML, a real engine process)
gives identical labels, identical statistics and equivalent DICOM SEG."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import copy_series_with_uids
from saltseg.analysis.statistics import COLUMNS
from saltseg.cli import main
from saltseg.inference.options import SegmentOptions
from saltseg.io.image_io import read_image
from saltseg.job.description import SegmentJob

highdicom = pytest.importorskip("highdicom")
pytest.importorskip("distributed")

DEMO = "salt-phantom-demo"
ONLY = ("spine", "kidneys")
#: torch everywhere: which runtime "auto" picks is decided (and kept) per process, and the two
#: runtimes' float rounding may part on a tied voxel; this test is about the job, not the runtime.
OPTIONS = SegmentOptions.fast(only=ONLY, backend="torch")


def statistics_by_node(path: Path, case: str = "") -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if not case or row["case"] == case]
    return {row["node"]: {column: row[column] for column in COLUMNS} for row in rows}


def seg_frames(path: Path) -> tuple[list[str], np.ndarray]:
    seg = highdicom.seg.segread(path)
    return [item.TrackingID for item in seg.SegmentSequence], seg.pixel_array


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("one-job")
    ct = root / "ct"
    copy_series_with_uids(shared_data / "example_ct_dicom", ct)
    out = {name: root / name for name in ("cli", "batch", "service", "slicer")}
    for folder in out.values():
        folder.mkdir()

    # saltseg segment
    assert main(["segment", str(ct), "-o", str(out["cli"] / "ct.seg.dcm"), "--fast", "--only", ONLY[0], "--only",
                 ONLY[1], "--statistics", str(out["cli"] / "statistics.csv"), "--model", DEMO, "--device", "cpu",
                 "--backend", "torch", "--quiet"]) == 0

    # a one-case saltseg batch
    from saltseg.batch import run_batch

    [record] = run_batch([ct], out["batch"], model=DEMO, device="cpu", output_format="dicom-seg", options=OPTIONS,
                         workers=1, progress=False)
    assert record.status == "done", record.error

    # the engine service: the job as its request line
    job = SegmentJob(input=ct, output=out["service"] / "ct.seg.dcm", model=DEMO, device="cpu", options=OPTIONS,
                     statistics=out["service"] / "statistics.csv", labelmap=out["service"] / "labels.nrrd")
    service = subprocess.Popen([sys.executable, "-m", "saltseg.service", "serve", "--idle-timeout", "0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    service.stdin.write(json.dumps(job.to_request()) + "\n")
    service.stdin.flush()  # kept open until the answer: a closed input means the front end is gone
    events = []
    while not events or events[-1]["event"] not in ("done", "error"):
        events.append(json.loads(service.stdout.readline()))
    service.stdin.close()
    service.wait(timeout=60)
    assert events[-1]["event"] == "done", events[-1]

    # the Slicer console: the CT as a volume node of a real scene, the module's Logic
    from slicer_test_support import install_scripted_module_shim, load_ct, new_scene  # (puts the module on sys.path)

    sitk.WriteImage(read_image(ct), str(root / "ct.nrrd"))
    install_scripted_module_shim()
    import SALTSegmentation

    scene = new_scene()
    volume = load_ct(scene, root / "ct.nrrd")
    logic = SALTSegmentation.SALTSegmentationLogic()
    try:
        logic.segment(volume, model=DEMO, device="cpu", options=SegmentOptions.fast(backend="torch"),
                      structures=list(ONLY),
                      outputs={"statistics": out["slicer"] / "statistics.csv"})
        slicer_labels = sitk.GetArrayFromImage(logic.currentJob.result.labelmap)
    finally:
        logic.shutdownEngine()
    return out, record.case, slicer_labels


def test_cli_and_batch_give_the_same_statistics(runs):
    out, case, _ = runs
    batch = statistics_by_node(out["batch"] / "statistics.csv", case)
    assert batch == statistics_by_node(out["cli"] / "statistics.csv")


def test_cli_and_service_give_the_same_statistics(runs):
    out, _, _ = runs
    assert statistics_by_node(out["service"] / "statistics.csv") == statistics_by_node(out["cli"] / "statistics.csv")


def test_service_and_slicer_console_give_the_same_statistics(runs):
    out, _, _ = runs
    slicer = statistics_by_node(out["slicer"] / "statistics.csv")
    assert slicer == statistics_by_node(out["service"] / "statistics.csv")


def test_only_the_two_subtrees_are_counted(runs):
    out, _, _ = runs
    counted = {node for node, row in statistics_by_node(out["cli"] / "statistics.csv").items() if int(row["voxels"])}
    assert counted and all(node.startswith(("body,bones,spine", "body,abdominal_cavity,kidneys")) or
                           node in ("body", "body,bones", "body,abdominal_cavity") for node in counted)


@pytest.mark.parametrize("other", ["batch", "service"])
def test_dicom_seg_segments_are_the_clis(runs, other):
    out, case, _ = runs
    name = f"{case}.seg.dcm" if other == "batch" else "ct.seg.dcm"
    assert seg_frames(out[other] / name)[0] == seg_frames(out["cli"] / "ct.seg.dcm")[0]


@pytest.mark.parametrize("other", ["batch", "service"])
def test_dicom_seg_frames_are_the_clis(runs, other):
    out, case, _ = runs
    name = f"{case}.seg.dcm" if other == "batch" else "ct.seg.dcm"
    assert np.array_equal(seg_frames(out[other] / name)[1], seg_frames(out["cli"] / "ct.seg.dcm")[1])


def test_slicer_console_labels_are_the_services(runs):
    out, _, slicer_labels = runs
    assert np.array_equal(slicer_labels, sitk.GetArrayFromImage(sitk.ReadImage(str(out["service"] / "labels.nrrd"))))
