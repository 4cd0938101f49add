"""The module segmenting on a real SALT server (``saltseg serve`` on 127.0.0.1, a token file, a small
real model): the module's controller, its real Logic and engine process, real MRML. The imported
segmentation is the one a local run imports; the progress bar shows the upload, the server's work
and the download; neither the saved scene nor the module's log holds the token; a wrong token, an
unreachable server and Cancel leave the scene as it was, with a message saying what happened; the
model box lists the server's models; the console call reads the token saved for that server."""
from __future__ import annotations

import logging
import shutil
import socket
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene, scene_snapshot,  # noqa: F401
                                 published_tree, segment_mask, threshold_model_dir)
from controller_support import Probe, RecordingView
from server_support import self_signed_certificate, start_server, write_token
from slicer_server_support import IniSettings

pytest.importorskip("fastapi")  # saltseg serve: pip install 'saltseg[server]' (the module itself needs neither)
pytest.importorskip("uvicorn")

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from saltseg.remote.address import ServerAddress  # noqa: E402
from saltseg.remote.client import ServerConnection  # noqa: E402
from SALTSegmentationLib.processes.process_runner import SubprocessRunner  # noqa: E402
from SALTSegmentationLib.processes.server_settings import SERVER, ServerSettings, save  # noqa: E402
from SALTSegmentationLib.widgets.controller import ModuleController, RunSettings  # noqa: E402
from SALTSegmentationLib.widgets.run_location import SERVER_DEVICES  # noqa: E402

TIMEOUT = 300  # seconds; a bound for a hung engine or server, never reached by a working one


class SceneView(RecordingView):
    def __init__(self, volume, model):
        super().__init__()
        self.volume, self.model = volume, model

    def run_settings(self):
        return RunSettings(self.volume, None, self.model, self.device, {})


@pytest.fixture(scope="module")
def server(tmp_path_factory, threshold_model_dir):
    """``saltseg serve`` with the model as its default (served by the folder's name); a client
    gone for 2 s has its job cancelled and its files deleted."""
    folder = tmp_path_factory.mktemp("salt-server")
    write_token(folder / "tokens.txt")
    running = start_server(folder / "work", threshold_model_dir, folder / "tokens.txt", ["--client-timeout", "2"])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served_model(threshold_model_dir) -> str:
    """The id the server gives its default model: its folder's name."""
    return threshold_model_dir.name


def settings_file(folder, url, token):
    store = IniSettings(folder / "Slicer.ini")
    save(store, ServerSettings(SERVER, url, token))
    return store


def module_on(store, volume, model):
    """The module's controller, with its real Logic, running on what ``store`` says."""
    view = SceneView(volume, model)
    logic = SALTSegmentation.SALTSegmentationLogic()
    return view, ModuleController(view, logic, sys.executable, SubprocessRunner, Probe(torch=None),
                                  settings_store=store)


def segment_masks(node, volume) -> dict:
    segmentation = node.GetSegmentation()
    return {segmentation.GetNthSegment(i).GetName(): segment_mask(node, segmentation.GetNthSegmentID(i), volume)
            for i in range(segmentation.GetNumberOfSegments())}


@pytest.fixture(scope="module")
def server_run(server, tmp_path_factory, served_model):
    """One segmentation through the module on the server, progress recorded."""
    scene = new_scene()
    volume = load_ct(scene)
    view, ctl = module_on(settings_file(tmp_path_factory.mktemp("settings"), server.url, server.token), volume,
                          served_model)
    stages: list[str] = []
    shown = ctl.on_progress
    ctl.on_progress = lambda stage, fraction: (stages.append(stage), shown(stage, fraction))
    try:
        ctl.on_segment_clicked()
        job = ctl.logic.currentJob
        assert job.wait(timeout=TIMEOUT), "the run did not finish"
    finally:
        ctl.logic.shutdownEngine()
    return SimpleNamespace(scene=scene, volume=volume, node=view.output, view=view, ctl=ctl, stages=stages, job=job)


def test_the_server_run_imports_the_segmentation_a_local_run_imports(server_run, threshold_model_dir):
    logic = SALTSegmentation.SALTSegmentationLogic()
    try:
        local = logic.segment(server_run.volume, model=str(threshold_model_dir), device="cpu")
    finally:
        logic.shutdownEngine()
    remote, here = segment_masks(server_run.node, server_run.volume), segment_masks(local, server_run.volume)
    assert sorted(remote) == sorted(here)
    assert all(np.array_equal(remote[name], here[name]) for name in here)


def test_the_progress_bar_shows_the_upload_the_servers_work_and_the_download(server_run):
    assert {"uploading", "inference", "downloading"} <= set(server_run.stages)


def test_the_status_reports_the_structures_found(server_run):
    assert server_run.view.status.startswith("3 structures in ")


def test_the_saved_scene_holds_no_token(server_run, server, tmp_path):
    scene = server_run.scene
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    assert server.token not in (tmp_path / "scene.mrml").read_text()


def test_the_modules_log_holds_no_token(server_run, server):
    assert server.token not in server_run.ctl.log.text()


def test_the_server_keeps_nothing_once_the_results_are_here(server_run, server):
    assert server.wait_for_no_job_files(timeout=10) == []


def test_a_wrong_token_is_a_clear_error_and_imports_nothing(server, tmp_path, caplog, served_model):
    caplog.set_level(logging.DEBUG)
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    view, ctl = module_on(settings_file(tmp_path, server.url, "not-the-token-0123456789"), volume, served_model)
    try:
        ctl.on_segment_clicked()
        assert ctl.logic.currentJob.wait(timeout=TIMEOUT)
    finally:
        ctl.logic.shutdownEngine()
    assert view.errors == [f"The SALT server at {server.url} refused the token: wrong token. Check the token under "
                           "\"Run on: a SALT server\" (the server's administrator gives it)."]
    assert scene_snapshot(scene) == before
    assert "not-the-token-0123456789" not in caplog.text + ctl.log.text()  # Python's log, the module's log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_a_clear_error_and_imports_nothing(tmp_path):
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    url = f"http://127.0.0.1:{free_port()}"
    view, ctl = module_on(settings_file(tmp_path, url, "any-token-0123456789abcdef"), volume, "some-model")
    try:
        ctl.on_segment_clicked()
        assert ctl.logic.currentJob.wait(timeout=TIMEOUT)
    finally:
        ctl.logic.shutdownEngine()
    assert view.errors[0].startswith(f"Cannot reach the SALT server at {url}: connection refused")
    assert scene_snapshot(scene) == before


def test_cancel_during_the_server_run_leaves_the_scene_and_the_server_clean(server, tmp_path, served_model):
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    view, ctl = module_on(settings_file(tmp_path, server.url, server.token), volume, served_model)
    shown, pressed = ctl.on_progress, []

    def cancel_once_uploaded(stage, fraction):  # the user presses Cancel while the server works
        shown(stage, fraction)
        if stage not in ("connecting", "uploading") and not pressed:
            pressed.append(stage)
            ctl.on_segment_clicked()

    ctl.on_progress = cancel_once_uploaded
    try:
        ctl.on_segment_clicked()
        job = ctl.logic.currentJob
        assert job.wait(timeout=TIMEOUT)
    finally:
        ctl.logic.shutdownEngine()
    assert view.status == "Cancelled; nothing was changed."
    assert scene_snapshot(scene) == before
    assert server.wait_for_no_job_files(timeout=20) == []  # the engine cancelled the job on the server


def test_the_model_box_lists_the_servers_models(server, tmp_path):
    view, ctl = module_on(settings_file(tmp_path, server.url, server.token), None, None)
    try:
        ctl.refresh_models()
        assert ctl.location.query.wait(TIMEOUT)
    finally:
        ctl.shutdown()
    offered = ServerConnection(ServerAddress(server.url, server.token)).models()["models"]
    assert sorted(choice.id for choice in view.models) == sorted(row["id"] for row in offered)
    assert view.models[0].label.endswith("(the server's default)")  # first, and chosen unless the user chose
    assert view.devices == list(SERVER_DEVICES)


def test_the_model_list_with_a_wrong_token_says_what_to_fix(server, tmp_path):
    view, ctl = module_on(settings_file(tmp_path, server.url, "not-the-token-0123456789"), None, None)
    try:
        ctl.refresh_models()
        assert ctl.location.query.wait(TIMEOUT)
    finally:
        ctl.shutdown()
    assert view.status.startswith(f"Could not read the models of {server.url}: The SALT server at {server.url} "
                                  "refused the token")


def test_the_console_call_uses_the_token_saved_for_that_server(server, server_run, tmp_path, served_model):
    logic = SALTSegmentation.SALTSegmentationLogic()
    logic.settingsStore = settings_file(tmp_path, server.url, server.token)
    try:
        node = logic.segment(server_run.volume, model=served_model, server=server.url)
    finally:
        logic.shutdownEngine()
    assert sorted(segment_masks(node, server_run.volume)) == sorted(segment_masks(server_run.node, server_run.volume))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, threshold_model_dir):
    """The server with TLS, its certificate self-signed (trusted by no authority of this computer)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command (to make a self-signed certificate) is not installed")
    folder = tmp_path_factory.mktemp("salt-tls-server")
    write_token(folder / "tokens.txt")
    certificate, key = self_signed_certificate(folder)
    running = start_server(folder / "work", threshold_model_dir, folder / "tokens.txt",
                           ["--tls-cert", certificate, "--tls-key", key])
    yield running, certificate
    running.stop()


def models_read_with(store) -> tuple[list, str]:
    """The model box's choices (ids) and the status after reading the list of the server ``store`` names."""
    view, ctl = module_on(store, None, None)
    try:
        ctl.refresh_models()
        assert ctl.location.query.wait(TIMEOUT)
    finally:
        ctl.shutdown()
    return [choice.id for choice in view.models], view.status


def test_an_untrusted_certificate_says_to_choose_the_servers_certificate(tls_server, tmp_path):
    server, _ = tls_server
    models, status = models_read_with(settings_file(tmp_path, server.url, server.token))
    assert status.startswith(f"Could not read the models of {server.url}: The SALT server at {server.url} "
                             "has a TLS certificate this computer does not trust")
    assert status.endswith("choose the server's certificate file (.pem) under \"Run on: a SALT server\"")


def test_the_chosen_certificate_lets_the_module_reach_the_server(tls_server, tmp_path, served_model):
    server, certificate = tls_server
    store = IniSettings(tmp_path / "Slicer.ini")
    save(store, ServerSettings(SERVER, server.url, server.token, ca_file=str(certificate)))
    models, _ = models_read_with(store)
    assert models[0] == served_model
