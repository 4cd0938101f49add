"""``saltseg serve``: check everything, take the work folder, start the engine with the model
loaded, then serve HTTP(S) with uvicorn until Ctrl-C or SIGTERM; leave no job file behind.

Without TLS the server binds loopback addresses only (``127.0.0.1``, ``::1``, ``localhost``):
anywhere else the token and the patients' CTs would cross the network readable, unless the
administrator says ``--insecure-http`` (a TLS proxy in front of it, a trusted network).
"""
from __future__ import annotations

import logging
import signal
import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import SaltSegError
from .address import is_loopback_host

logger = logging.getLogger(__name__)

INSTALL_HINT = "saltseg serve needs FastAPI and uvicorn: pip install 'saltseg[server]'"


class ServeError(SaltSegError):
    """The server cannot start as asked (an unsafe address, a missing certificate, no FastAPI)."""


class _Stopped(BaseException):
    """SIGTERM: stop serving, then clean up (uvicorn hands the signal back once it stopped)."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped()


@dataclass
class ServeSettings:
    token_file: Path
    host: str = "127.0.0.1"
    port: int = 8765
    model: Optional[str] = None
    device: str = "auto"
    home: Optional[str] = None
    max_upload_mb: float = 2048.0
    max_jobs: int = 64
    tls_cert: Optional[Path] = None
    tls_key: Optional[Path] = None
    insecure_http: bool = False
    work_dir: Optional[Path] = None
    client_timeout: float = 30.0
    keep_results: float = 3600.0

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def check_settings(settings: ServeSettings) -> None:
    """What can be refused before anything starts: the address without TLS, the TLS files."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ServeError("give both --tls-cert and --tls-key (the certificate and its private key)")
    if not settings.tls and not is_loopback_host(settings.host) and not settings.insecure_http:
        raise ServeError(
            f"refusing to serve on {settings.host} without TLS: the token and the patients' CT images would cross "
            "the network unencrypted, readable by anyone on the way. Give --tls-cert and --tls-key (see the "
            "documentation for a certificate), or --insecure-http if a TLS proxy in front of the server or a "
            "trusted network protects the traffic; without either, serve on 127.0.0.1 only")
    if settings.tls:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(settings.tls_cert),
                                                                                str(settings.tls_key))
        except FileNotFoundError as error:
            raise ServeError(f"TLS file {error.filename} does not exist") from None
        except (ssl.SSLError, OSError) as error:
            raise ServeError(f"cannot use --tls-cert {settings.tls_cert} with --tls-key {settings.tls_key}: "
                             f"{getattr(error, 'reason', None) or error}") from None
    if min(settings.max_upload_mb, settings.max_jobs, settings.client_timeout, settings.keep_results) <= 0:
        raise ServeError("--max-upload-mb, --max-jobs, --client-timeout and --keep-results must be positive")


def bind(settings: ServeSettings) -> socket.socket:
    """The listening socket (``--port 0``: a free port, written back into ``settings``)."""
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        raise ServeError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}") from None
    settings.port = sock.getsockname()[1]
    return sock


def serve(settings: ServeSettings) -> int:
    try:
        import uvicorn  # noqa: F401 - the server extra, imported only here
        from .app import ServerSettings, create_app
    except ModuleNotFoundError as error:
        if error.name not in ("fastapi", "uvicorn", "starlette"):
            raise
        raise ServeError(INSTALL_HINT) from None
    from .auth import TokenStore
    from .engine_worker import EngineWorker
    from .job_queue import JobQueue
    from .served_models import default_model, model_tree, served_models
    from .workspace import Workspace, default_work_dir

    check_settings(settings)
    tokens = TokenStore(settings.token_file)
    default = default_model(settings.model, settings.home)
    workspace = Workspace(settings.work_dir or default_work_dir())
    workspace.open()
    sock: Optional[socket.socket] = None
    queue = JobQueue(workspace, EngineWorker(workspace.jobs, settings.home),
                     {"op": "load", "model": default.spec, "device": settings.device,
                      **({"home": settings.home} if settings.home else {})},
                     client_timeout=settings.client_timeout, keep_results=settings.keep_results,
                     max_jobs=settings.max_jobs)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        sock = bind(settings)
        queue.start()
        app = create_app(queue, tokens, ServerSettings(
            lambda: served_models(default, settings.home), default.id, settings.device, settings.home,
            int(settings.max_upload_mb * 2**20), lambda model: model_tree(model, settings.home)))
        print(f"saltseg serve: listening on {settings.url} (model {default.id} on {queue.warm.get('device')}); "
              f"work folder {workspace.root}", file=sys.stderr, flush=True)
        _run_uvicorn(app, settings, sock)
    except (_Stopped, KeyboardInterrupt):
        pass  # the signal to stop: what follows is the clean stop
    finally:
        queue.stop()
        workspace.close()
        if sock is not None:
            sock.close()
        signal.signal(signal.SIGTERM, previous)
    print("saltseg serve: stopped; no job files left", file=sys.stderr)
    return 0


def _run_uvicorn(app, settings: ServeSettings, sock: socket.socket) -> None:
    import uvicorn

    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    config = uvicorn.Config(app, ssl_certfile=str(settings.tls_cert) if settings.tls else None,
                            ssl_keyfile=str(settings.tls_key) if settings.tls else None,
                            log_level="info" if verbose else "warning", access_log=verbose,
                            timeout_graceful_shutdown=5, server_header=False, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
