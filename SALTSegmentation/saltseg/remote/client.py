"""The client side of :mod:`.api`, with the Python standard library only (``http.client``, ``ssl``),
so that it runs inside Slicer's Python without extra packages.

Every failure is one :class:`~.errors.ServerError` (or, for a request the server refused with an
engine error, that error's own class and message): no traceback reaches a user.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional
from urllib.parse import quote, urlsplit

from ..errors import SaltSegError
from ..progress import CancelToken
from .address import ServerAddress, is_loopback_host
from .api import API_PREFIX, FINISHED
from .errors import ServerAuthError, ServerError, ServerLostError, ServerUnreachableError

logger = logging.getLogger(__name__)

#: Bytes per upload write and download read.
CHUNK = 1 << 20
#: ``(bytes done, bytes in all)``.
ByteProgress = Callable[[int, int], None]
_LOST = (ConnectionError, http.client.IncompleteRead, http.client.RemoteDisconnected, ssl.SSLError)


def _engine_error(kind: str, message: str) -> SaltSegError:
    """The engine's error class named ``kind`` (an ``InputImageError`` the server's reader raised,
    say) with the server's message; a :class:`ServerError` for any other name."""
    from ..service.errors import error_from_event

    return error_from_event(kind, message) or ServerError(message)


class ServerConnection:
    """Requests to one server, each on a connection of its own (a broken one never poisons the next)."""

    def __init__(self, address: ServerAddress, timeout: float = 60.0) -> None:
        self.address = address
        self.timeout = timeout
        parts = urlsplit(address.url)
        self._host = parts.hostname or ""
        self._port = parts.port
        self._context: Optional[ssl.SSLContext] = None
        if address.is_https:
            self._context = ssl.create_default_context(cafile=address.ca_file) if address.ca_file \
                else ssl.create_default_context()
        elif not is_loopback_host(self._host):
            logger.warning("%s is plain http: the token and the CT cross the network unencrypted", address.url)

    # -- plumbing ------------------------------------------------------------------------------

    def _open(self) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _headers(self, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.address.token}", "Accept": "application/json", **(extra or {})}

    def unreachable(self, error: BaseException) -> ServerUnreachableError:
        url = self.address.url
        if isinstance(error, ssl.SSLCertVerificationError):
            return ServerUnreachableError(
                f"the SALT server at {url} has a TLS certificate this computer does not trust "
                f"({error.verify_message}); give its certificate with --ca-file (or SSL_CERT_FILE)")
        if isinstance(error, socket.gaierror):
            return ServerUnreachableError(f"cannot reach the SALT server at {url}: unknown host {self._host!r}")
        if isinstance(error, ConnectionRefusedError):
            return ServerUnreachableError(f"cannot reach the SALT server at {url}: connection refused (is "
                                          "'saltseg serve' running there, on that port?)")
        if isinstance(error, (socket.timeout, TimeoutError)):
            return ServerUnreachableError(f"cannot reach the SALT server at {url}: no answer in {self.timeout:g} s")
        if isinstance(error, ssl.SSLError):
            return ServerUnreachableError(f"cannot reach the SALT server at {url}: TLS failed "
                                          f"({error.reason or error}); is it https?")
        if isinstance(error, http.client.BadStatusLine) and not self.address.is_https:
            return ServerUnreachableError(f"the SALT server at {url} did not answer in plain http: is it https://?")
        return ServerUnreachableError(f"cannot reach the SALT server at {url}: {error}")

    def _connect(self, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPConnection:
        connection = self._open()
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise self.unreachable(error) from None
        return connection

    def _response(self, connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
        try:
            return connection.getresponse()
        except (socket.timeout, TimeoutError):
            connection.close()
            raise ServerLostError(f"the SALT server at {self.address.url} did not answer in {self.timeout:g} s") \
                from None
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise self._lost(error) from None

    def _lost(self, error: BaseException) -> ServerError:
        reason = str(error) or type(error).__name__
        return ServerLostError(f"the connection to the SALT server at {self.address.url} broke ({reason}): the "
                               "server stopped or the network failed; nothing was written")

    def _refusal(self, response: http.client.HTTPResponse) -> SaltSegError:
        """The error of a response that is not a success."""
        try:
            body = json.loads(response.read(1 << 16) or b"{}")
        except (ValueError, OSError, http.client.HTTPException):
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        kind = str(error.get("type", "")) if isinstance(error, dict) else ""
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        if not message and isinstance(body, dict) and isinstance(body.get("detail"), str):
            message = body["detail"]
        message = message or f"HTTP {response.status} {response.reason}"
        if response.status == 401:
            return ServerAuthError(f"the SALT server at {self.address.url} refused the token: {message}")
        if kind:
            return _engine_error(kind, message)
        return ServerError(f"the SALT server at {self.address.url} answered: {message}")

    # -- requests ------------------------------------------------------------------------------

    def request_json(self, method: str, path: str, body: Optional[dict] = None,
                     expect: tuple[int, ...] = (200,)) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8") if body is not None else b""
        headers = self._headers({"Content-Length": str(len(data))})
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = self._connect(method, API_PREFIX + path, headers)
        try:
            try:
                connection.send(data)
            except OSError:
                pass  # the server answered before reading the body (a refusal): read that answer
            response = self._response(connection)
            if response.status not in expect:
                raise self._refusal(response)
            try:
                text = response.read()
                return json.loads(text) if text else {}
            except ValueError:
                raise ServerError(f"the SALT server at {self.address.url} sent no valid JSON for {method} {path}") \
                    from None
            except _LOST as error:
                raise self._lost(error) from None
        finally:
            connection.close()

    def upload(self, path: str, source: Path, progress: Optional[ByteProgress] = None,
               cancel: Optional[CancelToken] = None) -> dict[str, Any]:
        """PUT the file ``source`` to ``path``; the server's JSON answer."""
        total = source.stat().st_size
        headers = self._headers({"Content-Length": str(total), "Content-Type": "application/octet-stream"})
        connection = self._connect("PUT", API_PREFIX + path, headers)
        try:
            with open(source, "rb") as stream:
                self._send_file(connection, stream, total, progress, cancel)
            response = self._response(connection)
            if response.status not in (200, 202):
                raise self._refusal(response)
            try:
                return json.loads(response.read() or b"{}")
            except ValueError:
                raise ServerError(f"the SALT server at {self.address.url} sent no valid JSON after the upload") \
                    from None
        finally:
            connection.close()

    def _send_file(self, connection: http.client.HTTPConnection, stream: BinaryIO, total: int,
                   progress: Optional[ByteProgress], cancel: Optional[CancelToken]) -> None:
        sent = 0
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            block = stream.read(CHUNK)
            if not block:
                return
            try:
                connection.send(block)
            except OSError:
                return  # refused while sending (too large, say): the answer says why
            sent += len(block)
            if progress is not None:
                progress(sent, total)

    def events(self, job_id: str, cancel: Optional[CancelToken] = None) -> Iterator[dict[str, Any]]:
        """The job's status at every change (server-sent events), until it is finished. Ends with
        :class:`ServerLostError` when the stream stops before that (the server stopped)."""
        connection = self._connect("GET", f"{API_PREFIX}/jobs/{quote(job_id)}/events",
                                   self._headers({"Accept": "text/event-stream"}))
        try:
            response = self._response(connection)
            if response.status != 200:
                raise self._refusal(response)
            data: list[str] = []
            while True:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                try:
                    raw = response.readline(1 << 20)
                except (socket.timeout, TimeoutError):
                    raise ServerLostError(f"the SALT server at {self.address.url} sent nothing for "
                                          f"{self.timeout:g} s during the job") from None
                except (OSError, http.client.HTTPException) as error:
                    raise self._lost(error) from None
                if not raw:
                    raise ServerLostError(f"the SALT server at {self.address.url} closed the connection during "
                                          "the job (it stopped or crashed?); nothing was written")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    status = json.loads("\n".join(data))
                    data = []
                    yield status
                    if status.get("state") in FINISHED:
                        return
        finally:
            connection.close()

    def download(self, path: str, target: BinaryIO, progress: Optional[ByteProgress] = None,
                 cancel: Optional[CancelToken] = None) -> int:
        """GET ``path`` into the open file ``target``; the bytes written. A short body (the
        connection broke) is :class:`ServerLostError`."""
        connection = self._connect("GET", API_PREFIX + path, self._headers({"Accept": "application/octet-stream"}))
        try:
            response = self._response(connection)
            if response.status != 200:
                raise self._refusal(response)
            total = int(response.getheader("Content-Length") or 0)
            done = 0
            while True:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                try:
                    block = response.read(CHUNK)
                except (socket.timeout, TimeoutError, *_LOST) as error:
                    raise self._lost(error) from None
                if not block:
                    break
                target.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            if total and done != total:
                raise ServerLostError(f"the download from the SALT server at {self.address.url} stopped after "
                                      f"{done} of {total} bytes")
            return done
        finally:
            connection.close()

    def delete(self, job_id: str, timeout: float = 5.0) -> None:
        """Cancel the job or delete its results; best effort (cleaning up after another failure)."""
        saved, self.timeout = self.timeout, timeout
        try:
            self.request_json("DELETE", f"/jobs/{quote(job_id)}", expect=(200, 404))
        except SaltSegError as error:
            logger.info("could not delete job %s on %s: %s", job_id, self.address.url, error)
        finally:
            self.timeout = saved

    def models(self) -> dict[str, Any]:
        return self.request_json("GET", "/models")

    def model_tree(self, model_id: Optional[str]) -> dict[str, Any]:
        """The label tree of the server's model ``model_id`` (None: its default)."""
        model_id = model_id or str(self.models().get("default", ""))
        return self.request_json("GET", f"/models/{quote(model_id, safe='')}").get("tree", {})
