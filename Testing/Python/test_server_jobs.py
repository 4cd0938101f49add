"""Jobs on a real SALT server (``saltseg serve`` on 127.0.0.1): the result through ``--server``
is the local result, a job can be cancelled mid-run (and while the engine starts), eight clients
at once are served in the order they queued, each with its own labels, and ``saltseg batch
--server`` runs a cohort there."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.cli import main
from saltseg.inference.options import SegmentOptions
from saltseg.inference.pipeline import segment_image
from saltseg.model.model_io import load_model
from saltseg.remote.address import ServerAddress
from saltseg.remote.client import ServerConnection
from saltseg.remote.remote_job import labels_request, segment_on_server
from saltseg.synthetic_ct import synthetic_ct
from batch_support import copy_series_with_uids
from server_support import start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

@pytest.fixture(scope="module")
def server(tmp_path_factory, small_threshold_model):
    root = tmp_path_factory.mktemp("server")
    write_token(root / "token")
    running = start_server(root / "work", small_threshold_model, root / "token", ["--client-timeout", "5"])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def address(server):
    return ServerAddress(server.url, server.token)


def without_timestamp(path: Path) -> bytes:
    """A .seg.nrrd's bytes without pynrrd's "generated on" comment line."""
    return b"\n".join(line for line in path.read_bytes().split(b"\n") if not line.startswith(b"# on "))


@pytest.fixture(scope="module")
def both_runs(server, shared_data, small_threshold_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    ct = shared_data / "example_ct_sm.nii.gz"
    common = ["--statistics", "--quiet"]
    assert main(["segment", str(ct), "-o", str(out / "local.seg.nrrd"), "--model", str(small_threshold_model),
                 "--device", "cpu", common[0], str(out / "local.csv"), common[1]]) == 0
    (out / "token").write_text(server.token)
    assert main(["segment", str(ct), "-o", str(out / "remote.seg.nrrd"), "--server", server.url, "--token-file",
                 str(out / "token"), common[0], str(out / "remote.csv"), common[1]]) == 0
    return out


def test_segmentation_through_the_server_is_the_local_one(both_runs):
    assert without_timestamp(both_runs / "remote.seg.nrrd") == without_timestamp(both_runs / "local.seg.nrrd")


def test_statistics_through_the_server_are_the_local_ones(both_runs):
    assert (both_runs / "remote.csv").read_text() == (both_runs / "local.csv").read_text()


def test_nothing_stays_on_the_server_after_the_download(server, both_runs):
    assert server.wait_for_no_job_files() == []


def test_a_running_job_is_cancelled(server, address, shared_data):
    connection = ServerConnection(address)
    job = server.create_job({"output": ".nrrd", "options": {"overlap": 0.9}})  # minutes on the whole CT
    connection.upload(f"/jobs/{job}/input", shared_data / "example_ct.nii.gz")
    for status in connection.events(job):  # wait until it computes
        if status["state"] == "running" and status["fraction"] > 0:
            break
    server.request("DELETE", f"/v1/jobs/{job}")
    states = [status["state"] for status in connection.events(job)]
    assert states[-1] == "cancelled"


def test_the_server_works_on_after_a_cancel(server, address, shared_data, tmp_path):
    (tmp_path / "token").write_text(server.token)
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.nrrd"), "--server",
                 server.url, "--token-file", str(tmp_path / "token"), "--quiet"]) == 0


CLIENTS = 8


@pytest.fixture(scope="module")
def crowd(server, address, small_threshold_model, tmp_path_factory):
    """Eight clients at once, each with a CT of its own; what each got, and what the model gives here."""
    folder = tmp_path_factory.mktemp("crowd")
    model = load_model(small_threshold_model, "cpu")
    cts, expected = [], []
    for index in range(CLIENTS):
        image = synthetic_ct(size=(40, 36, 24 + 2 * index), seed=index)
        sitk.WriteImage(image, str(folder / f"ct{index}.nii.gz"))
        cts.append(folder / f"ct{index}.nii.gz")
        expected.append(sitk.GetArrayFromImage(segment_image(image, model, SegmentOptions()).labelmap))
    answers: list = [None] * CLIENTS
    statuses: list = [None] * CLIENTS

    def client(index: int) -> None:
        connection = ServerConnection(address)
        original = connection.events

        def events(job_id, cancel=None):
            for status in original(job_id, cancel):
                statuses[index] = status
                yield status

        connection.events = events  # keep the last status seen: its queue ticket and turn
        scratch = folder / f"scratch{index}"
        scratch.mkdir()
        image = sitk.ReadImage(str(cts[index]))
        result, _ = segment_on_server(connection, cts[index], image, labels_request(None, SegmentOptions()), scratch)
        answers[index] = sitk.GetArrayFromImage(result.labelmap)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return answers, expected, statuses


def test_every_client_gets_the_labels_of_its_own_ct(crowd):
    answers, expected, _ = crowd
    assert all(answer is not None and np.array_equal(answer, want) for answer, want in zip(answers, expected))


def test_jobs_run_in_the_order_they_were_queued(crowd):
    _, _, statuses = crowd
    by_ticket = sorted(statuses, key=lambda status: status["ticket"])
    assert [status["turn"] for status in by_ticket] == sorted(status["turn"] for status in statuses)


def test_the_crowd_leaves_nothing_on_the_server(server, crowd):
    assert server.wait_for_no_job_files() == []


def test_batch_sends_a_cohort_to_the_server(server, shared_data, tmp_path):
    pytest.importorskip("distributed")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for index in range(2):
        sitk.WriteImage(synthetic_ct(size=(40, 36, 24), seed=10 + index), str(cohort / f"case{index}.nii.gz"))
    (tmp_path / "token").write_text(server.token)
    assert main(["batch", str(cohort), "-o", str(tmp_path / "out"), "--server", server.url, "--token-file",
                 str(tmp_path / "token"), "--quiet"]) == 0


def test_models_lists_the_servers_default_model_first(server, address, small_threshold_model):
    assert ServerConnection(address).models()["models"][0]["id"] == small_threshold_model.name


def test_a_job_naming_no_model_of_the_server_is_refused(server):
    status, answer = server.request("POST", "/v1/jobs", json.dumps({"output": ".nrrd", "model": "../x"}).encode())
    assert (status, answer["error"]["type"]) == (422, "RequestError")


def test_a_job_that_names_server_paths_is_refused(server):
    status, _ = server.request("POST", "/v1/jobs", json.dumps({"output": "/etc/cron.d/x.nrrd"}).encode())
    assert status == 422


def test_a_running_job_reports_its_progress(server, address, shared_data):
    connection = ServerConnection(address)
    job = server.create_job({"output": ".nrrd", "options": {"overlap": 0.9}})  # minutes on the whole CT
    connection.upload(f"/jobs/{job}/input", shared_data / "example_ct.nii.gz")
    fractions: set[float] = set()
    for status in connection.events(job):
        if status["stage"] == "inference":
            fractions.add(status["fraction"])
        if len(fractions) == 3:
            break
    server.request("DELETE", f"/v1/jobs/{job}")
    assert len(fractions) == 3


@pytest.fixture(scope="module")
def map_runs(server, shared_data, small_threshold_model, tmp_path_factory):
    """Probability and confidence maps with the statistics they add, here and through the server."""
    out = tmp_path_factory.mktemp("maps")
    ct = shared_data / "example_ct_sm.nii.gz"
    maps = ["--probabilities", "body,bone", "--confidence", "--quiet"]
    assert main(["segment", str(ct), "-o", str(out / "local.seg.nrrd"), "--model", str(small_threshold_model),
                 "--device", "cpu", "--statistics", str(out / "local.csv"), *maps]) == 0
    (out / "token").write_text(server.token)
    assert main(["segment", str(ct), "-o", str(out / "remote.seg.nrrd"), "--server", server.url, "--token-file",
                 str(out / "token"), "--statistics", str(out / "remote.csv"), *maps]) == 0
    return out


def test_probability_maps_through_the_server_are_the_local_ones(map_runs):
    assert (map_runs / "remote.prob.body-bone.nii.gz").read_bytes() == \
        (map_runs / "local.prob.body-bone.nii.gz").read_bytes()


def test_confidence_maps_through_the_server_are_the_local_ones(map_runs):
    assert (map_runs / "remote.confidence.nii.gz").read_bytes() == (map_runs / "local.confidence.nii.gz").read_bytes()


def test_confidence_statistics_through_the_server_are_the_local_ones(map_runs):
    assert (map_runs / "remote.csv").read_text() == (map_runs / "local.csv").read_text()


def test_models_list_names_the_servers_models(server, small_threshold_model, tmp_path, capsys):
    (tmp_path / "token").write_text(server.token)
    main(["models", "list", "--server", server.url, "--token-file", str(tmp_path / "token")])
    assert small_threshold_model.name in capsys.readouterr().out


def test_the_client_needs_only_the_standard_library():
    """Beyond what ``import saltseg`` loads (numpy, which Slicer's Python has), nothing."""
    program = ("import sys, saltseg; before = set(sys.modules); import saltseg.remote.client; "
               "print(sorted(m for m in set(sys.modules) - before "
               "if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'saltseg'))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.fixture(scope="module")
def mask_typo(server, address, shared_data, tmp_path_factory):
    """``--mask`` naming no node of the server's model: the server's job counts before and after."""
    folder = tmp_path_factory.mktemp("typo")
    (folder / "token").write_text(server.token)
    connection = ServerConnection(address)
    before = connection.request_json("GET", "/info")["queue"]
    code = main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(folder / "ct.seg.nrrd"), "--mask",
                 "body,no_such_node", "--server", server.url, "--token-file", str(folder / "token"), "--quiet"])
    return code, before, connection.request_json("GET", "/info")["queue"]


def test_a_mask_typo_fails(mask_typo):
    assert mask_typo[0] == 1


def test_a_mask_typo_fails_before_the_ct_is_sent(mask_typo):
    _, before, after = mask_typo
    assert after == before


@pytest.fixture(scope="module")
def dicom_seg_runs(server, shared_data, small_threshold_model, tmp_path_factory):
    """A DICOM series to a DICOM SEG, here and through the server (which never sees the series)."""
    highdicom = pytest.importorskip("highdicom")
    out = tmp_path_factory.mktemp("dicom-seg")
    series = out / "ct"
    copy_series_with_uids(shared_data / "example_ct_dicom", series)
    assert main(["segment", str(series), "-o", str(out / "local.seg.dcm"), "--model", str(small_threshold_model),
                 "--device", "cpu", "--quiet"]) == 0
    (out / "token").write_text(server.token)
    assert main(["segment", str(series), "-o", str(out / "remote.seg.dcm"), "--server", server.url, "--token-file",
                 str(out / "token"), "--quiet"]) == 0
    return [highdicom.seg.segread(out / f"{name}.seg.dcm") for name in ("local", "remote")]


def test_dicom_seg_frames_through_the_server_are_the_local_ones(dicom_seg_runs):
    local, remote = dicom_seg_runs
    assert np.array_equal(remote.pixel_array, local.pixel_array)


def test_dicom_seg_segments_through_the_server_are_the_local_ones(dicom_seg_runs):
    local, remote = dicom_seg_runs
    assert [item.TrackingID for item in remote.SegmentSequence] == [item.TrackingID for item in local.SegmentSequence]


def test_a_cancel_while_the_engine_starts_still_cancels_the_job(shared_data, tmp_path):
    """The runner marks a job running, then starts the engine (or loads the model) and only then
    sends the job: a cancel in between reached the engine before the job did, and the engine ran
    the job to its end. The queue asks again once the job is sent."""
    from types import SimpleNamespace

    from saltseg.remote.engine_worker import EngineWorker
    from saltseg.remote.job_queue import RUNNING, Job, JobQueue
    from saltseg.remote.workspace import Workspace

    class CancelledWhileStarting(EngineWorker):  # the client cancels while the engine starts
        def start(self) -> None:
            super().start()
            queue.cancel(job, "cancelled by its client")

    request = {"op": "segment", "input": str(shared_data / "example_ct.nii.gz"),
               "labelmap": str(tmp_path / "labels.nrrd"), "model": "salt-phantom-demo", "device": "cpu"}
    worker = CancelledWhileStarting(tmp_path)
    queue = JobQueue(Workspace(tmp_path / "work"), worker)
    job = Job("job", tmp_path, SimpleNamespace(request=request), state=RUNNING)  # type: ignore[arg-type]
    try:
        answer = queue._run_one(job)
    finally:
        worker.stop(timeout=5)
    assert (answer["event"], answer.get("type")) == ("error", "Cancelled")
    assert not (tmp_path / "labels.nrrd").exists()
