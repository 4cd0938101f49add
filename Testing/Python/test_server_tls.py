"""A SALT server with TLS (a self-signed certificate made here): the client segments over https
when it trusts that certificate (``--ca-file``), and refuses the server, saying why, when not."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.cli import main
from server_support import self_signed_certificate, start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, small_threshold_model):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(root)
    write_token(root / "token")
    running = start_server(root / "work", small_threshold_model, root / "token",
                           ["--tls-cert", cert, "--tls-key", key])
    yield running, root
    running.stop()


def test_the_server_speaks_https(tls_server):
    server, _ = tls_server
    assert server.url.startswith("https://127.0.0.1:")


@pytest.fixture(scope="module")
def https_labels(tls_server, shared_data, small_threshold_model):
    server, root = tls_server
    ct = shared_data / "example_ct_sm.nii.gz"
    assert main(["segment", str(ct), "-o", str(root / "remote.nii.gz"), "--server", server.url, "--token-file",
                 str(root / "token"), "--ca-file", str(root / "cert.pem"), "--quiet"]) == 0
    assert main(["segment", str(ct), "-o", str(root / "local.nii.gz"), "--model", str(small_threshold_model),
                 "--device", "cpu", "--quiet"]) == 0
    return [sitk.GetArrayFromImage(sitk.ReadImage(str(root / f"{name}.nii.gz"))) for name in ("remote", "local")]


def test_labels_over_https_are_the_local_ones(https_labels):
    remote, local = https_labels
    assert np.array_equal(remote, local)


def test_an_untrusted_certificate_is_refused_with_a_hint(tls_server, shared_data, capsys, tmp_path):
    server, root = tls_server
    main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.nii.gz"), "--server",
          server.url, "--token-file", str(root / "token"), "--quiet"])
    assert "TLS certificate this computer does not trust" in capsys.readouterr().err


def test_an_untrusted_certificate_writes_nothing(tls_server, shared_data, tmp_path):
    server, root = tls_server
    main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.nii.gz"), "--server",
          server.url, "--token-file", str(root / "token"), "--quiet"])
    assert sorted(path.name for path in tmp_path.iterdir()) == []
