"""A real ``saltseg serve`` for tests: a subprocess on 127.0.0.1 (``--port 0``: a free port, read from
its first line), with a token file, a small model and its own work folder; and raw HTTP for what
no well-behaved client sends (hostile ids, lies about sizes, hang-ups)."""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import urlsplit

#: Seconds a server may take to start (the engine imports torch and loads the model).
START_TIMEOUT_S = 180


def write_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


@dataclass
class RunningServer:
    process: subprocess.Popen
    url: str
    work_dir: Path
    token: str
    log: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    @property
    def jobs_dir(self) -> Path:
        return self.work_dir / "jobs"

    def job_files(self) -> list[str]:
        """Everything in the jobs folder (the server's only place for patients' data)."""
        return sorted(str(path.relative_to(self.jobs_dir)) for path in self.jobs_dir.rglob("*"))

    def wait_for_no_job_files(self, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while self.job_files() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.job_files()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def request(self, method: str, path: str, body: Optional[bytes] = None, token: Optional[str] = "default",
                headers: Optional[dict] = None, timeout: float = 30.0) -> tuple[int, dict]:
        """One request on a fresh connection; (status, JSON body)."""
        connection = http_connection(self.url, timeout)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {"raw": data.decode("latin-1")}

    def create_job(self, job: Optional[dict] = None) -> str:
        status, answer = self.request("POST", "/v1/jobs", json.dumps(job or {"output": ".nrrd"}).encode(),
                                      headers={"Content-Type": "application/json"})
        assert status == 201, answer
        return answer["id"]


def http_connection(url: str, timeout: float = 30.0, context=None) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def start_server(work_dir: Path, model: Path, token_file: Path, extra: Sequence[str] = (),
                 host: str = "127.0.0.1") -> RunningServer:
    """``saltseg serve`` in its own process group; returns once it listens."""
    command = [sys.executable, "-m", "saltseg", "serve", "--host", host, "--port", "0", "--token-file", str(token_file),
               "--model", str(model), "--device", "cpu", "--work-dir", str(work_dir), *map(str, extra)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               start_new_session=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on (\S+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        process.kill()
        process.wait()
        raise RuntimeError("saltseg serve did not start:\n" + "".join(lines))
    threading.Thread(target=_drain, args=(process.stderr, lines), daemon=True).start()
    return RunningServer(process, url, work_dir, token_file.read_text().strip(), lines)


def raw_exchange(server: RunningServer, head: str, body: bytes = b"", close_after_send: bool = False,
                 read: bool = True, timeout: float = 30.0) -> str:
    """Send ``head`` (request line and headers, CRLF-separated, without the final blank line) and
    ``body`` on a plain socket; the response's status line (empty when closing without reading)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        try:
            sock.sendall(body)
        except OSError:  # refused while sending: the answer is what matters
            pass
        if close_after_send or not read:
            return ""
        answer = b""
        while b"\r\n" not in answer:
            block = sock.recv(4096)
            if not block:
                break
            answer += block
        return answer.split(b"\r\n", 1)[0].decode("latin-1")
    finally:
        sock.close()


def auth_header(server: RunningServer) -> str:
    return f"Authorization: Bearer {server.token}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, made with the ``openssl`` command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key
