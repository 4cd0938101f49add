""""Run on: a SALT server" without Qt: which addresses the module accepts (plain http only to this
computer unless the user allows it), that the settings — the token too — live in Slicer's settings
file and come back from it, that the stored token goes only to the server it was stored for, and
what the "Run on" rows show while the user types."""
from __future__ import annotations

import sys

import pytest

import slicer_test_support  # noqa: F401  (puts the module folder on sys.path)
from slicer_server_support import IniSettings, RecordingPanel
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.processes.server_settings import (LOCAL, SERVER, SERVER_TOKEN_SETTING, ServerSettings,
                                                           ServerSettingsError, check_url, console_server, load,
                                                           request_server, save)
from SALTSegmentationLib.widgets.run_location import RunLocation

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def store(tmp_path):
    return IniSettings(tmp_path / "Slicer.ini")


def location(store, refreshes=None):
    """The controller's RunLocation; asked to refresh, it reads the list as the controller has it do."""
    statuses: list[str] = []

    def refresh() -> None:
        refreshes.append(1)
        run_location.refresh_models()

    run_location = RunLocation(store, SubprocessRunner, sys.executable, lambda choices, devices: None,
                               statuses.append, refresh if refreshes is not None else lambda: None)
    run_location.statuses = statuses
    return run_location


@pytest.mark.parametrize("url", ["https://gpu.example.org:8765", "https://gpu.example.org:8765/",
                                 "http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"])
def test_encrypted_or_loopback_addresses_are_accepted(url):
    assert check_url(url) == url.rstrip("/")


def test_plain_http_to_another_computer_needs_the_users_explicit_allowance():
    with pytest.raises(ServerSettingsError, match="is not encrypted .*tick \"Allow unencrypted connection\""):
        check_url("http://gpu.example.org:8765")
    assert check_url("http://gpu.example.org:8765", allow_unencrypted=True) == "http://gpu.example.org:8765"


@pytest.mark.parametrize("url, message", [
    ("", "Enter the SALT server's address"),
    ("gpu.example.org:8765", "must look like https://"),
    ("https://user:pw@gpu.example.org:8765", "no user name or password"),
    ("https://gpu.example.org:8765/segment", "the server's root"),
    ("https://gpu.example.org:port", "not a valid URL"),
])
def test_a_bad_address_says_what_is_wrong(url, message):
    with pytest.raises(ServerSettingsError, match=message):
        check_url(url)


def test_the_settings_come_back_from_the_settings_file(store, tmp_path):
    chosen = ServerSettings(SERVER, "http://gpu.example.org:8765", TOKEN, True, "")
    save(store, chosen)
    assert load(IniSettings(tmp_path / "Slicer.ini")) == chosen  # another QSettings() on the same file


def test_an_emptied_token_is_removed_from_the_settings_file(store, tmp_path):
    save(store, ServerSettings(SERVER, "https://gpu.example.org", TOKEN))
    save(store, ServerSettings(SERVER, "https://gpu.example.org", ""))
    assert TOKEN not in (tmp_path / "Slicer.ini").read_text()


def test_the_token_is_kept_out_of_the_settings_repr():
    assert TOKEN not in repr(ServerSettings(SERVER, "https://gpu.example.org", TOKEN))


def test_a_certificate_file_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "server.pem"
    with pytest.raises(ServerSettingsError, match=f"certificate file {missing} does not exist"):
        request_server(ServerSettings(SERVER, "https://gpu.example.org", TOKEN, ca_file=str(missing)))


def test_the_request_names_the_certificate_to_trust(tmp_path):
    certificate = tmp_path / "server.pem"
    certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    server = request_server(ServerSettings(SERVER, "https://gpu.example.org", TOKEN, ca_file=str(certificate)))
    assert server == {"url": "https://gpu.example.org", "token": TOKEN, "ca_file": str(certificate)}


def test_the_console_sends_the_stored_token_only_to_its_own_server(store):
    save(store, ServerSettings(LOCAL, "https://gpu.example.org:8765", TOKEN))
    assert console_server("https://gpu.example.org:8765/", None, store) == {"url": "https://gpu.example.org:8765",
                                                                             "token": TOKEN}
    with pytest.raises(ServerSettingsError, match="No token is saved for https://other.example.org:8765: pass token="):
        console_server("https://other.example.org:8765", None, store)


def test_the_console_uses_the_modules_server_when_told_so(store):
    save(store, ServerSettings(LOCAL, "https://gpu.example.org:8765", TOKEN))
    assert console_server(True, None, store) == {"url": "https://gpu.example.org:8765", "token": TOKEN}


def test_the_console_without_a_saved_server_says_how_to_give_one(store):
    with pytest.raises(ServerSettingsError, match="No SALT server is saved in the module"):
        console_server(True, None, store)


def test_typing_an_address_keeps_it_and_shows_what_is_missing(store):
    panel, refreshes = RecordingPanel(), []
    run_location = location(store, refreshes)
    run_location.attach(panel)
    run_location.apply(ServerSettings(SERVER, "https://gpu.exam", ""), refresh=False)
    assert load(store).url == "https://gpu.exam"  # half-typed, kept
    assert panel.problem.startswith("Enter the server's access token")
    assert panel.management is False  # download/install/delete act on this computer only
    assert refreshes == []  # the model list is read once editing is finished


def test_finishing_an_edit_reads_the_model_list_once(store):
    refreshes = []
    run_location = location(store, refreshes)
    settings = ServerSettings(SERVER, "https://gpu.example.org", "")  # no token: no server is asked
    run_location.apply(settings)
    run_location.apply(settings)  # editing finished again, nothing changed
    assert refreshes == [1]


def test_a_model_list_that_cannot_be_asked_for_says_why(store):
    run_location = location(store, [])
    run_location.apply(ServerSettings(SERVER, "https://gpu.example.org", ""))
    assert run_location.statuses == ["Enter the server's access token (the server's administrator gives it)."]


def test_back_to_this_computer_clears_the_problem_and_enables_model_management(store):
    panel = RecordingPanel()
    run_location = location(store)
    run_location.attach(panel)
    run_location.apply(ServerSettings(SERVER, "http://gpu.example.org", TOKEN))
    assert "not encrypted" in panel.problem
    run_location.apply(ServerSettings(LOCAL, "http://gpu.example.org", TOKEN))
    assert panel.problem == ""
    assert panel.management is True
    assert run_location.server_for_run() is None


def test_the_settings_file_holds_the_token_under_its_key_only(store, tmp_path):
    save(store, ServerSettings(SERVER, "https://gpu.example.org", TOKEN))
    assert store.value(SERVER_TOKEN_SETTING) == TOKEN
    assert (tmp_path / "Slicer.ini").read_text().count(TOKEN) == 1
