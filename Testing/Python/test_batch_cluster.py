"""``saltseg batch`` on real local Dask clusters (worker processes bound to 127.0.0.1) with the bundled
demo model: a cohort of phantoms plus a corrupt file and a real DICOM series; resume; a killed
worker; DICOM SEG output read back with highdicom."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from batch_support import PHANTOM_SEEDS, copy_series, copy_series_with_uids, write_corrupt_nifti, write_phantom_cohort
from saltseg.batch import run_batch
from saltseg.batch.cluster import ClusterSettings, start_local_cluster
from saltseg.cli import main
from saltseg.inference.pipeline import SegmentOptions
from saltseg.models.catalog import DEMO_MODEL_ID

FAST = SegmentOptions(overlap=0.0)  # fewer windows: the tests check the batch machinery, not accuracy
GOOD = {f"site1/ct_{PHANTOM_SEEDS[0]}", f"site2/ct_{PHANTOM_SEEDS[1]}", f"site1/ct_{PHANTOM_SEEDS[2]}",
        "site2/patient_dicom"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, shared_data) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    write_phantom_cohort(root)
    write_corrupt_nifti(root / "site2" / "broken.nii.gz")
    copy_series(shared_data / "example_ct_dicom", root / "site2" / "patient_dicom")
    return root


@pytest.fixture(scope="module")
def first_run(cohort, tmp_path_factory):
    """The cohort through ``run_batch``'s own local cluster of two worker processes."""
    outdir = tmp_path_factory.mktemp("batch_out")
    records = run_batch([cohort], outdir, model=DEMO_MODEL_ID, device="cpu", workers=2, options=FAST,
                        progress=False)
    return outdir, records


@pytest.fixture(scope="module")
def client():
    """A second local cluster (same code path), shared by the tests that need to reach its workers."""
    from distributed import Client

    cluster = start_local_cluster(ClusterSettings(workers=2, device="cpu"))
    with Client(cluster) as connected:
        yield connected
    cluster.close()


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _snapshot(outdir: Path) -> dict[str, tuple]:
    return {str(p.relative_to(outdir)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in outdir.rglob("*.seg.nrrd")}


def test_good_cases_are_done_and_the_corrupt_one_failed_with_its_reason(first_run):
    outdir, records = first_run
    by_case = {record.case: record for record in records}
    assert set(by_case) == GOOD | {"site2/broken"}
    assert {case for case, r in by_case.items() if r.status == "done"} == GOOD
    broken = by_case["site2/broken"]
    assert broken.status == "failed" and "truncated or corrupt" in broken.error
    assert not (outdir / "site2" / "broken.seg.nrrd").exists()
    for case in GOOD:  # outputs mirror the input layout and are what the manifest describes
        record = by_case[case]
        output = outdir / f"{case}.seg.nrrd"
        assert record.output == f"{case}.seg.nrrd" and output.stat().st_size == record.output_bytes
        assert record.structures > 3 and record.device == "cpu" and record.model == DEMO_MODEL_ID
    assert {r.worker.split(" ")[0] for r in records} <= {"saltseg-0", "saltseg-1"}
    rows = {row["case"]: row for row in _read_csv(outdir / "manifest.csv")}
    assert rows["site2/broken"]["error"] == broken.error and rows[f"site1/ct_{PHANTOM_SEEDS[0]}"]["status"] == "done"
    assert not [p for p in outdir.rglob("*") if ".part" in p.name]


def test_volumes_cover_every_node_and_internal_nodes_sum_their_children(first_run):
    outdir, _ = first_run
    rows = _read_csv(outdir / "volumes.csv")
    assert {row["case"] for row in rows} == GOOD
    for case in GOOD:
        volumes = {row["node"]: float(row["volume_ml"]) for row in rows if row["case"] == case}
        children = defaultdict(list)
        for node in volumes:
            if "," in node:
                children[node.rsplit(",", 1)[0]].append(node)
        assert children, "internal nodes are listed"
        for parent, kids in children.items():
            assert volumes[parent] == pytest.approx(sum(volumes[k] for k in kids), abs=1e-3 * len(kids))
        assert volumes["body"] > 0
        assert all(row["leaf"] == ("0" if row["node"] in children else "1") for row in rows if row["case"] == case)


def test_statistics_table_has_every_node_with_intensities_of_the_input(first_run):
    import numpy as np
    import slicerio

    from saltseg.io.image_io import read_image

    outdir, records = first_run
    statistics = _read_csv(outdir / "statistics.csv")
    volumes = {(r["case"], r["node"]): r for r in _read_csv(outdir / "volumes.csv")}
    assert {r["case"] for r in statistics} == GOOD
    assert {(r["case"], r["node"]) for r in statistics} == set(volumes)
    for row in statistics:  # the same voxels as volumes.csv, which stays as it was
        assert row["voxels"] == volumes[(row["case"], row["node"])]["voxels"]
    # One node checked against numpy on the case's own CT and segmentation.
    record = next(r for r in records if r.case == f"site1/ct_{PHANTOM_SEEDS[0]}")
    segmentation = slicerio.read_segmentation(str(outdir / record.output))
    ct = np.asarray(__import__("SimpleITK").GetArrayFromImage(read_image(record.input))).transpose(2, 1, 0)
    bones = [s["labelValue"] for s in segmentation["segments"] if s["tags"]["SALT.TreePath"].startswith("body,bones")]
    mask = np.isin(segmentation["voxels"], bones)
    row = next(r for r in statistics if r["case"] == record.case and r["node"] == "body,bones")
    assert int(row["voxels"]) == int(mask.sum()) > 0
    assert float(row["mean_hu"]) == pytest.approx(ct[mask].mean(), abs=0.006)
    assert float(row["p95_hu"]) == pytest.approx(np.percentile(ct[mask], 95), abs=0.006)


def test_a_structure_subset_keeps_only_its_subtree_in_outputs_and_statistics(cohort, client, tmp_path):
    import slicerio

    case = cohort / "site1" / f"ct_{PHANTOM_SEEDS[0]}.nii.gz"
    records = run_batch([case], tmp_path, model=DEMO_MODEL_ID, device="cpu", progress=False, client=client,
                        options=SegmentOptions(overlap=0.0, only=("bones",)))
    assert [r.status for r in records] == ["done"] and "structures=bones" in records[0].options
    segments = slicerio.read_segmentation(str(tmp_path / records[0].output))["segments"]
    assert segments and all(s["tags"]["SALT.TreePath"].startswith("body,bones,") for s in segments)
    nodes = [row["node"] for row in _read_csv(tmp_path / "statistics.csv")]
    assert nodes[0] == "body,bones" and all(n.startswith("body,bones") for n in nodes)


def test_a_rerun_recomputes_nothing_and_redoes_missing_or_damaged_outputs(first_run, client, tmp_path):
    source, _ = first_run
    outdir = tmp_path / "out"
    shutil.copytree(source, outdir)
    cohort = Path(next(iter(_read_csv(outdir / "manifest.csv")))["input"]).parents[1]
    before = _snapshot(outdir)

    records = run_batch([cohort], outdir, model=DEMO_MODEL_ID, device="cpu", options=FAST, progress=False,
                        client=client)

    assert {r.case for r in records if r.status == "skipped"} == GOOD
    assert [r.case for r in records if r.status == "failed"] == ["site2/broken"]  # failed cases are retried
    assert _snapshot(outdir) == before  # not one output rewritten
    assert {row["case"] for row in _read_csv(outdir / "volumes.csv")} == GOOD  # skipped cases keep their volumes
    assert {row["case"] for row in _read_csv(outdir / "statistics.csv")} == GOOD  # and their statistics

    missing, damaged = sorted(GOOD)[:2]
    (outdir / f"{missing}.seg.nrrd").unlink()
    with open(outdir / f"{damaged}.seg.nrrd", "r+b") as handle:
        handle.truncate(100)
    records = run_batch([cohort], outdir, model=DEMO_MODEL_ID, device="cpu", options=FAST, progress=False,
                        client=client)
    status = {r.case: r.status for r in records}
    assert {case for case, s in status.items() if s == "done"} == {missing, damaged}
    untouched = {k: v for k, v in before.items() if k not in (f"{missing}.seg.nrrd", f"{damaged}.seg.nrrd")}
    assert {k: v for k, v in _snapshot(outdir).items() if k in untouched} == untouched


def test_the_cli_takes_a_csv_list_and_finishes_without_work_when_all_is_done(first_run, tmp_path, capsys):
    outdir, records = first_run
    listing = tmp_path / "done.csv"
    listing.write_text("input,case\n" + "".join(f"{r.input},{r.case}\n" for r in records if r.status == "done"))

    code = main(["batch", str(listing), "-o", str(outdir), "--model", DEMO_MODEL_ID, "--device", "cpu",
                 "--overlap", "0", "--quiet"])

    printed = capsys.readouterr().out.split()
    assert code == 0 and printed == [str(outdir / "manifest.csv"), str(outdir / "volumes.csv"),
                                     str(outdir / "statistics.csv")]
    assert {row["status"] for row in _read_csv(outdir / "manifest.csv") if row["case"] in GOOD} == {"skipped"}


def _kill_a_busy_worker(client, runner: threading.Thread) -> int:
    """SIGKILL the process of a worker that holds a case right now; returns its pid."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.is_alive():
        busy = [address for address, keys in client.processing().items()
                if any(str(key).startswith("saltseg-") for key in keys)]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError("no worker was seen holding a case")


def _run_in_thread(**kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(records=run_batch(**kwargs)))
    runner.start()
    return runner, result


def test_a_killed_worker_process_does_not_lose_its_case(cohort, client, tmp_path):
    inputs = sorted((cohort / "site1").glob("ct_*"))
    outdir = tmp_path / "out"
    runner, result = _run_in_thread(inputs=inputs, outdir=outdir, model=DEMO_MODEL_ID, device="cpu", options=FAST,
                                    progress=False, client=client)
    killed = _kill_a_busy_worker(client, runner)  # mid-case: the worker holds a case right now
    runner.join(timeout=120)
    assert not runner.is_alive()
    assert sorted(r.status for r in result["records"]) == ["done"] * len(inputs)
    assert all((outdir / r.output).is_file() for r in result["records"])
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert killed not in client.run(os.getpid).values()


def test_a_case_whose_worker_keeps_dying_is_recorded_failed_after_the_limit(cohort, client, tmp_path):
    case_input = next((cohort / "site2").glob("ct_*"))
    outdir = tmp_path / "out"
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    try:
        runner, result = _run_in_thread(inputs=[case_input], outdir=outdir, model=DEMO_MODEL_ID, device="cpu",
                                        options=FAST, progress=False, client=client)
        _kill_a_busy_worker(client, runner)
        runner.join(timeout=120)
    finally:
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 2))
    [record] = result["records"]
    assert record.status == "failed" and "worker process died 1 time while segmenting" in record.error
    assert [row["status"] for row in _read_csv(outdir / "manifest.csv")] == ["failed"]
    assert not list(outdir.rglob("*.seg.nrrd"))  # nothing is left that looks like a result
    client.wait_for_workers(2, timeout=60)


def test_dicom_seg_references_its_series_and_names_and_codes_every_segment(shared_data, client, tmp_path):
    import highdicom as hd

    series_uid = copy_series_with_uids(shared_data / "example_ct_dicom", tmp_path / "in" / "patient")
    copy_series(shared_data / "example_ct_dicom", tmp_path / "in" / "anonymised")
    outdir = tmp_path / "out"

    records = {r.case: r for r in run_batch([tmp_path / "in"], outdir, model=DEMO_MODEL_ID, device="cpu",
                                            output_format="dicom-seg", options=FAST, progress=False,
                                            client=client)}

    assert records["patient"].status == "done", records["patient"].error
    assert records["anonymised"].status == "failed" and "SeriesInstanceUID" in records["anonymised"].error
    seg = hd.seg.segread(outdir / "patient.seg.dcm")
    assert seg.number_of_segments == records["patient"].structures
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid
    segments = {item.TrackingID: item for item in seg.SegmentSequence}
    kidney = segments["body,abdominal_cavity,kidneys,kidney_right"]
    assert kidney.SegmentLabel == "Right kidney"
    assert kidney.SegmentedPropertyTypeCodeSequence[0].CodeValue == "64033007"
    assert kidney.SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Right"
    for item in seg.SegmentSequence:  # every segment is validly coded, with or without a SNOMED CT type
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert item.SegmentLabel
