"""A segmentation contacts no one: with the faster CPU runtime (OpenVINO, whose Python package sends
usage telemetry on import unless told otherwise) a whole ``saltseg segment`` run makes no socket
connection and no name lookup, in its process or any process below it, and writes nothing of
OpenVINO's under the home folder. Run as on a user's machine: no CI variable (OpenVINO's telemetry
stays quiet under CI on its own) and a fresh home folder (no consent file)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from process_guard_support import guarded_environment, network_contacts

pytestmark = pytest.mark.backends

DEMO = "salt-phantom-demo"


@pytest.fixture(scope="module")
def guarded_run(tmp_path_factory, shared_data):
    pytest.importorskip("openvino")
    folder = tmp_path_factory.mktemp("offline")
    command = [sys.executable, "-m", "saltseg", "-v", "segment", str(shared_data / "example_ct_sm.nii.gz"),
               "-o", str(folder / "out.seg.nrrd"), "--model", DEMO, "--backend", "openvino", "--quiet"]
    result = subprocess.run(command, env=guarded_environment(folder), capture_output=True, text=True, timeout=600)
    # What the tests below check is only meaningful for a whole run on OpenVINO.
    assert result.returncode == 0, result.stderr[-3000:]
    assert "network runs on openvino" in result.stderr, result.stderr[-3000:]
    return folder


def test_no_connection_or_name_lookup_is_attempted(guarded_run):
    assert network_contacts(guarded_run) == []


def test_nothing_of_openvino_is_written_under_home(guarded_run):
    folder = guarded_run
    written = sorted(path.name for path in (folder / "home").iterdir())
    assert not {"intel", "Intel Corporation"} & set(written), written
