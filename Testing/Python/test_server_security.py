"""What a SALT server refuses, and what it survives: no token, a wrong token, an upload larger than
it takes (refused before it is all read), job ids and file names no server made, a CT that is
truncated, corrupt or names a file of the server's, clients that hang up mid-upload and
mid-download, and an address off this computer without TLS."""
from __future__ import annotations

import gzip
import subprocess
import sys
import time

import pytest

from saltseg.errors import InputImageError
from saltseg.remote.address import ServerAddress
from saltseg.remote.client import ServerConnection
from server_support import auth_header, raw_exchange, start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

LIMIT_MB = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_threshold_model):
    root = tmp_path_factory.mktemp("guarded")
    write_token(root / "token")
    running = start_server(root / "work", small_threshold_model, root / "token",
                           ["--client-timeout", "2", "--max-upload-mb", str(LIMIT_MB)])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def connection(server):
    return ServerConnection(ServerAddress(server.url, server.token))


def test_no_token_is_refused(server):
    assert server.request("POST", "/v1/jobs", b'{"output": ".nrrd"}', token=None)[0] == 401


def test_a_refused_request_stores_nothing(server):
    server.request("POST", "/v1/jobs", b'{"output": ".nrrd"}', token=None)
    assert server.job_files() == []


def test_a_wrong_token_is_refused(server):
    assert server.request("GET", "/v1/models", token="x" * 43)[0] == 401


def test_an_upload_with_a_wrong_token_is_refused_unread(server):
    job = server.create_job()
    head = (f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {'y' * 43}\r\n"
            f"Content-Length: {64 << 20}")
    assert raw_exchange(server, head, b"\0" * 65536).split(" ")[1] == "401"


def test_the_api_description_needs_no_token(server):
    assert server.request("GET", "/openapi.json", token=None)[0] == 200


def test_an_oversized_upload_is_refused_before_it_is_read(server):
    job = server.create_job()
    head = f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nContent-Length: {64 << 20}"
    # 64 KiB of the announced 64 MiB are sent: the answer comes without the rest
    assert raw_exchange(server, head, b"\0" * 65536).split(" ")[1] == "413"


def test_an_oversized_upload_without_a_length_is_cut_off(server):
    job = server.create_job()
    head = f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nTransfer-Encoding: chunked"
    chunk = b"%x\r\n" % (256 << 10) + b"\0" * (256 << 10) + b"\r\n"
    assert raw_exchange(server, head, chunk * (LIMIT_MB * 4 + 4)).split(" ")[1] == "413"


def test_an_oversized_upload_leaves_nothing(server):
    job = server.create_job()
    head = f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nContent-Length: {64 << 20}"
    raw_exchange(server, head, b"\0" * 65536)
    assert server.wait_for_no_job_files() == []


@pytest.mark.parametrize("job_id", ["..%2F..%2Fjobs", "../x", "a" * 300, "0123456789abcdef0123456789abcdeg",
                                    "%2e%2e", "0123456789ABCDEF0123456789ABCDEF"])
def test_a_job_id_the_server_did_not_make_is_unknown(server, job_id):
    assert server.request("GET", f"/v1/jobs/{job_id}")[0] == 404


@pytest.mark.parametrize("name", ["..%2F..%2F..%2Fetc%2Fpasswd", "input.nii.gz", ".lock", "x" * 400])
def test_a_file_name_the_job_did_not_write_is_unknown(server, name):
    job = server.create_job()
    assert server.request("GET", f"/v1/jobs/{job}/files/{name}")[0] == 404


def test_a_truncated_ct_is_refused_with_the_readers_words(server, connection, shared_data, tmp_path):
    data = (shared_data / "example_ct_sm.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    job = server.create_job()
    with pytest.raises(InputImageError, match="the uploaded CT is truncated or corrupt"):
        connection.upload(f"/jobs/{job}/input", tmp_path / "cut.nii.gz")


def test_a_4d_image_is_refused_with_the_engines_words(server, connection, tmp_path):
    import SimpleITK as sitk
    import numpy as np

    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 8, 16, 16), np.int16), isVector=False),
                    str(tmp_path / "4d.nii.gz"))
    job = server.create_job()
    with pytest.raises(InputImageError, match="4D"):
        connection.upload(f"/jobs/{job}/input", tmp_path / "4d.nii.gz")


def test_a_header_naming_a_server_file_is_refused(server, connection, tmp_path):
    (tmp_path / "evil.nrrd").write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n"
                                        "data file: /etc/passwd\n\n")
    job = server.create_job()
    with pytest.raises(InputImageError, match="separate data file"):
        connection.upload(f"/jobs/{job}/input", tmp_path / "evil.nrrd")


def test_something_no_image_is_refused(server, connection, tmp_path):
    (tmp_path / "notes.nii.gz").write_bytes(gzip.compress(b"hello " * 1000))
    job = server.create_job()
    with pytest.raises(InputImageError, match="no NIfTI"):
        connection.upload(f"/jobs/{job}/input", tmp_path / "notes.nii.gz")


def test_refused_uploads_leave_nothing(server, connection, tmp_path):
    (tmp_path / "notes.nii.gz").write_bytes(gzip.compress(b"hello " * 1000))
    job = server.create_job()
    with pytest.raises(InputImageError):
        connection.upload(f"/jobs/{job}/input", tmp_path / "notes.nii.gz")
    assert server.wait_for_no_job_files() == []


def test_a_client_hanging_up_mid_upload_leaves_nothing(server, shared_data):
    job = server.create_job()
    data = (shared_data / "example_ct_sm.nii.gz").read_bytes()
    head = f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nContent-Length: {len(data)}"
    raw_exchange(server, head, data[: len(data) // 3], close_after_send=True)  # says more than it sends
    assert server.wait_for_no_job_files() == []


def test_the_server_serves_on_after_a_hang_up(server, shared_data):
    job = server.create_job()
    data = (shared_data / "example_ct_sm.nii.gz").read_bytes()
    head = f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nContent-Length: {len(data)}"
    raw_exchange(server, head, data[: len(data) // 3], close_after_send=True)
    assert server.request("GET", "/v1/info")[0] == 200


@pytest.fixture(scope="module")
def hung_up_download(server, connection, shared_data):
    """A finished job whose client reads a few bytes of a result, then hangs up."""
    job = server.create_job({"output": ".nii"})  # uncompressed: the biggest file this small CT gives
    connection.upload(f"/jobs/{job}/input", shared_data / "example_ct_sm.nii.gz")
    [last] = [status for status in connection.events(job) if status["state"] == "done"]
    head = f"GET /v1/jobs/{job}/files/output.nii HTTP/1.1\r\nHost: x\r\n{auth_header(server)}"
    raw_exchange(server, head, b"")  # reads the status line only, then closes
    return last


def test_a_client_hanging_up_mid_download_leaves_nothing(server, hung_up_download):
    assert server.wait_for_no_job_files() == []


def test_the_server_serves_on_after_a_download_hang_up(server, hung_up_download):
    assert server.request("GET", "/v1/models")[0] == 200


@pytest.fixture(scope="module")
def unencrypted_network_start(tmp_path_factory, small_threshold_model):
    folder = tmp_path_factory.mktemp("plain")
    write_token(folder / "token")
    return subprocess.run([sys.executable, "-m", "saltseg", "serve", "--host", "0.0.0.0", "--token-file",
                           str(folder / "token"), "--model", str(small_threshold_model), "--work-dir",
                           str(folder / "work")], capture_output=True, text=True, timeout=120)


def test_a_server_without_tls_refuses_every_network(unencrypted_network_start):
    assert unencrypted_network_start.returncode == 1


def test_the_refusal_says_why(unencrypted_network_start):
    assert "without TLS: the token and the patients' CT images would cross the network unencrypted" in \
        unencrypted_network_start.stderr


def test_a_short_token_is_refused_at_start(tmp_path, small_threshold_model):
    (tmp_path / "token").write_text("secret\n")
    done = subprocess.run([sys.executable, "-m", "saltseg", "serve", "--token-file", str(tmp_path / "token"),
                           "--model", str(small_threshold_model), "--work-dir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=120)
    assert "shorter than 16 characters" in done.stderr


def test_the_job_of_a_client_that_never_uploads_is_cancelled(server):
    job = server.create_job()
    server.wait_for_no_job_files()
    assert server.request("GET", f"/v1/jobs/{job}")[1]["error"]["message"].startswith("the client went away")


@pytest.fixture(scope="module")
def rotated(server, tmp_path_factory):
    """The token file rewritten while the server runs: first old and new token, then the new only."""
    token_file = next(line for line in server.process.args if str(line).endswith("token"))
    new = "n" * 43
    with open(token_file, "w") as stream:
        stream.write(f"{server.token}\n{new}\n")
    during = (server.request("GET", "/v1/info")[0], server.request("GET", "/v1/info", token=new)[0])
    time.sleep(0.05)  # a new modification time for the second change
    with open(token_file, "w") as stream:
        stream.write(f"{new}\n")
    after = (server.request("GET", "/v1/info")[0], server.request("GET", "/v1/info", token=new)[0])
    return during, after


def test_during_a_rotation_both_tokens_work(rotated):
    during, _ = rotated
    assert during == (200, 200)


def test_after_a_rotation_only_the_new_token_works(rotated):
    _, after = rotated
    assert after == (401, 200)


def test_the_server_logged_no_traceback_through_all_of_this(server):
    assert [line for line in server.log if "Traceback" in line or "Exception in ASGI" in line] == []
