"""The widget's behaviour when it runs on a SALT server, through its Qt-free controller with a
recording view and the module's settings in a real settings file: the run carries the server and
needs no PyTorch on this computer, a setting that cannot be used stops the run with its reason, a
server's refusal reads as what to fix (no model download or CPU retry is offered for the server),
and the token is never shown in the module's status or log."""
from __future__ import annotations

import sys

import pytest

import slicer_test_support  # noqa: F401  (path set-up)
from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic
from saltseg.errors import ModelNotInstalledError, OutOfMemoryError
from saltseg.remote.errors import ServerAuthError, ServerUnreachableError
from slicer_server_support import IniSettings
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.processes.server_settings import LOCAL, SERVER, ServerSettings, save
from SALTSegmentationLib.widgets.controller import ModuleController
from SALTSegmentationLib.widgets.run_location import server_error_text

TOKEN = "s3cret-token-0123456789abcdef"
URL = "https://gpu.example.org:8765"


@pytest.fixture
def store(tmp_path):
    store = IniSettings(tmp_path / "Slicer.ini")
    save(store, ServerSettings(SERVER, URL, TOKEN))
    return store


def controller(view, store, probe=None):
    return ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, probe or Probe(),
                            settings_store=store)


def test_a_run_on_the_server_carries_its_address_and_token(store):
    ctl = controller(RecordingView(), store)
    ctl.on_segment_clicked()
    assert ctl.logic.servers == [{"url": URL, "token": TOKEN}]


def test_a_run_on_the_server_needs_no_pytorch_on_this_computer(store):
    view = RecordingView()
    ctl = controller(view, store, Probe(torch=None))
    ctl.on_segment_clicked()
    assert view.questions == []  # no offer to install PyTorch
    assert len(ctl.logic.jobs) == 1


def test_the_status_names_the_server_the_ct_goes_to(store):
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    assert ctl.log.text().endswith(f"[module] Sending the CT to the SALT server {URL}…")


def test_back_on_this_computer_the_run_carries_no_server(store):
    save(store, ServerSettings(LOCAL, URL, TOKEN))
    ctl = controller(RecordingView(), store)
    ctl.on_segment_clicked()
    assert ctl.logic.servers == [None]


def test_an_unencrypted_address_stops_the_run_with_its_reason(store):
    save(store, ServerSettings(SERVER, "http://gpu.example.org:8765", TOKEN))
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    assert ctl.logic.jobs == []
    assert view.errors[0].startswith("http://gpu.example.org:8765 is not encrypted (http)")


def test_a_missing_token_stops_the_run_with_its_reason(store):
    save(store, ServerSettings(SERVER, URL, ""))
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    assert view.errors == ["Enter the server's access token (the server's administrator gives it)."]


def test_a_refused_token_says_where_to_fix_it(store):
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, ServerAuthError(f"the SALT server at {URL} refused the token: "
                                                             "invalid or missing token"))
    assert view.errors == [f"The SALT server at {URL} refused the token: invalid or missing token. Check the "
                           "token under \"Run on: a SALT server\" (the server's administrator gives it)."]


def test_a_server_without_the_model_offers_no_download_here(store):
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, ModelNotInstalledError("model 'm' is not installed"))
    assert view.questions == []


def test_a_memory_error_on_the_server_offers_no_cpu_retry(store):
    view = RecordingView()
    view.device = "cuda"
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, OutOfMemoryError("CUDA out of memory"))
    assert view.questions == []
    assert len(ctl.logic.jobs) == 1


def test_an_untrusted_certificate_points_to_the_certificate_field():
    error = ServerUnreachableError(f"the SALT server at {URL} has a TLS certificate this computer does not trust "
                                   "(self-signed certificate); give its certificate with --ca-file (or SSL_CERT_FILE)")
    assert server_error_text(error).endswith("choose the server's certificate file (.pem) under \"Run on: a SALT "
                                             "server\"")


def test_the_token_never_reaches_the_status_or_the_log(store):
    view = RecordingView()
    ctl = controller(view, store)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, ServerUnreachableError(f"cannot reach the SALT server at {URL}: "
                                                                    "connection refused"))
    shown = "\n".join([ctl.log.text(), view.status, *view.errors, *view.details, *view.log])
    assert TOKEN not in shown
