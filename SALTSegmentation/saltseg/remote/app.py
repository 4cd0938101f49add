"""The server's HTTP routes (:mod:`.api`), as a FastAPI app; its OpenAPI description is at ``/docs``.

Every route but the description needs the token (:class:`~.auth.TokenMiddleware`, before any body
is read). Errors are ``{"error": {"type", "message"}}`` with the engine's error class and words:
4xx for what the client sent, 5xx for the server's own trouble.
"""
from __future__ import annotations

import errno
import json
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..errors import InputImageError, OptionError, OutputError, RequestError, SaltSegError
from .api import API_PREFIX, FILE_NAME_PATTERN, JOB_ID_PATTERN, SERVER_SUFFIXES, WAITING
from .auth import TokenMiddleware, TokenStore
from .job_queue import Job, JobQueue, QueueFull
from .job_spec import ServedModel, ServerJob, job_request_fields, server_job, with_input
from .streams import EventStream, FileDownload, body_chunks, declared_length
from .upload_check import check_upload, upload_suffix

logger = logging.getLogger(__name__)

#: The largest job description taken (a job is a few hundred bytes of JSON).
MAX_JOB_BYTES = 64 * 1024
#: Disk space an upload must leave free in the work folder: room for its job's results and the
#: engine's temporary files, and for the other jobs' (a full disk fails every job, not only this one).
UPLOAD_HEADROOM_BYTES = 256 * 2**20
#: What a write says when the disk (or the user's quota, or the file size limit) has no more room.
NO_ROOM = tuple(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def no_room(detail: str) -> "ApiError":
    """HTTP 507: the server cannot store the upload; the client's CT was fine."""
    return ApiError(507, "StorageFull", f"the server has no room for this upload ({detail}); try again later, "
                                        "or ask its administrator to free space in its work folder")


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class ServerSettings:
    models: Callable[[], dict[str, ServedModel]]
    default_model: str
    device: str
    home: Optional[str]
    max_upload_bytes: int
    tree: Callable[[ServedModel], dict[str, Any]]
    upload_idle_timeout: float = 60.0


class RawResponse(Response):
    """Hands the request's ASGI channel to one of :mod:`.streams`' responses."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Any]) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _binary_body(description: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/octet-stream": binary}}}


def create_app(queue: JobQueue, tokens: TokenStore, settings: ServerSettings) -> FastAPI:
    app = FastAPI(title="SALT segmentation server", version=__version__,
                  description="Whole-body CT segmentation with SALT. Every route but this description needs "
                              "`Authorization: Bearer TOKEN`. A job: POST /v1/jobs, PUT its CT to /v1/jobs/ID/input, "
                              "follow /v1/jobs/ID/events, GET its files, DELETE it.")
    app.add_middleware(TokenMiddleware, tokens=tokens)
    checking = threading.Semaphore(1)  # one upload read at a time: a CT takes memory while checked

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.kind, error.message)

    @app.exception_handler(SaltSegError)
    async def engine_error(request: Request, error: SaltSegError) -> JSONResponse:
        status = 422 if isinstance(error, (InputImageError, RequestError, OptionError, OutputError)) else 400
        return _error(status, type(error).__name__, str(error))

    def find(job_id: str) -> Job:
        job = queue.get(job_id) if JOB_ID_PATTERN.fullmatch(job_id) else None
        if job is None:
            raise ApiError(404, "NotFound", "no such job (finished jobs are deleted once downloaded or after a while)")
        return job

    @app.get(API_PREFIX + "/info", summary="the server: version, device, default model, queue and limits")
    def info() -> dict[str, Any]:
        return {"saltseg_version": __version__, "device": queue.warm.get("device") or settings.device,
                "model": settings.default_model, "queue": queue.counts(),
                "max_upload_bytes": settings.max_upload_bytes, "max_jobs": queue.max_jobs,
                "client_timeout_s": queue.client_timeout,
                "keep_results_s": queue.keep_results, "server_suffixes": list(SERVER_SUFFIXES)}

    @app.get(API_PREFIX + "/models", summary="the models jobs may name (``model``), the default first")
    def models() -> dict[str, Any]:
        served = settings.models()
        rows = [{"id": model.id, "title": model.title, "default": model.id == settings.default_model,
                 "loaded": model.id == settings.default_model and bool(queue.warm)}
                for model in sorted(served.values(), key=lambda m: (m.id != settings.default_model, m.id))]
        return {"default": settings.default_model, "models": rows}

    @app.get(API_PREFIX + "/models/{model_id}", summary="one model: its id, title and label tree")
    def model(model_id: str) -> dict[str, Any]:
        served = settings.models().get(model_id)
        if served is None:
            raise ApiError(404, "RegistryError", f"the server has no model {model_id[:80]!r}")
        return {"id": served.id, "title": served.title, "tree": settings.tree(served)}

    @app.post(API_PREFIX + "/jobs", status_code=201, summary="a new job (then PUT its CT to /v1/jobs/ID/input)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "description": "A segment request of the engine service (SegmentJob."
                  "to_request()) whose path fields hold only the file ending to write: "
                  + ", ".join(SERVER_SUFFIXES), "properties": {name: {} for name in job_request_fields()}}}}}})
    async def create_job(request: Request) -> JSONResponse:
        if (declared_length(request.scope) or 0) > MAX_JOB_BYTES:
            raise ApiError(413, "RequestError", f"a job description is at most {MAX_JOB_BYTES} bytes")
        body = b""
        async for chunk in body_chunks(request.receive, settings.upload_idle_timeout):
            body += chunk
            if len(body) > MAX_JOB_BYTES:
                raise ApiError(413, "RequestError", f"a job description is at most {MAX_JOB_BYTES} bytes")
        try:
            message = json.loads(body or b"null")
        except ValueError as error:
            raise RequestError(f"the job is not valid JSON ({error})") from None
        served = settings.models()

        def make(job_id: str) -> ServerJob:
            return server_job(message, job_id, served, settings.default_model, settings.device, settings.home)

        try:
            job = queue.create(make)
        except QueueFull as error:
            raise ApiError(503, "ServerBusy", str(error)) from None
        logger.info("job %s: created (model %s)", job.id, job.spec.model_id)
        return JSONResponse({**queue.status(job), "upload": f"{API_PREFIX}/jobs/{job.id}/input"}, status_code=201)

    @app.put(API_PREFIX + "/jobs/{job_id}/input", status_code=202, summary="the job's CT; queues the job",
             openapi_extra=_binary_body("one NIfTI (.nii, .nii.gz), NRRD or MHA file with its data attached"))
    async def upload(job_id: str, request: Request) -> JSONResponse:
        job = find(job_id)
        if job.state != WAITING:
            raise ApiError(409, "RequestError", f"the job's CT was uploaded already (the job is {job.state})")
        limit = settings.max_upload_bytes
        declared = declared_length(request.scope)
        if declared is not None and declared > limit:
            queue.discard(job)
            raise ApiError(413, "InputImageError", f"the upload ({declared / 2**20:.0f} MiB) is larger than the "
                                                   f"server takes ({limit / 2**20:.0f} MiB)")
        free = _free_bytes(job.folder) if declared is not None else None
        if declared is not None and free is not None and declared + UPLOAD_HEADROOM_BYTES > free:
            queue.discard(job)
            raise no_room(f"{declared / 2**20:.0f} MiB, {free / 2**20:.0f} MiB free in its work folder")
        part = job.folder / "upload.part"
        queue.attach(job)
        try:
            size = await _receive_file(request, part, limit, settings.upload_idle_timeout)
        except BaseException:
            queue.discard(job)
            raise
        finally:
            queue.detach(job)
        try:
            if declared is not None and size != declared:
                raise InputImageError(f"the upload ended after {size} of {declared} bytes")
            suffix = upload_suffix(part)
            target = job.folder / f"input{suffix}"
            part.rename(target)

            def check() -> list[str]:
                with checking:
                    return check_upload(target)

            warnings = await run_in_threadpool(check)
        except BaseException:
            queue.discard(job)
            raise
        queue.enqueue(job, with_input(job.spec.request, job.id, suffix), warnings)
        logger.info("job %s: %d bytes uploaded, queued", job.id, size)
        return JSONResponse(queue.status(job), status_code=202)

    @app.get(API_PREFIX + "/jobs/{job_id}", summary="the job's status")
    def status(job_id: str) -> dict[str, Any]:
        return queue.status(find(job_id))

    @app.get(API_PREFIX + "/jobs/{job_id}/events", summary="the job's status at every change (text/event-stream)")
    def events(job_id: str) -> RawResponse:
        return RawResponse(EventStream(queue, find(job_id)))

    @app.get(API_PREFIX + "/jobs/{job_id}/files/{name}", summary="one result file (names from the status' files)")
    def download(job_id: str, name: str) -> RawResponse:
        job = find(job_id)
        path = queue.file(job, name) if FILE_NAME_PATTERN.fullmatch(name) else None
        if path is None:
            raise ApiError(404, "NotFound", "the job has no such file (yet)")
        return RawResponse(FileDownload(queue, job, name, path))

    @app.delete(API_PREFIX + "/jobs/{job_id}", summary="cancel the job, or delete its results")
    def delete(job_id: str) -> dict[str, Any]:
        job = find(job_id)
        queue.cancel(job, "cancelled by the client")
        return queue.status(job)

    return app


def _free_bytes(folder) -> Optional[int]:
    """Free space for the server's user in ``folder`` (None when the system cannot say: the
    write itself then finds out)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


async def _receive_file(request: Request, path, limit: int, idle_timeout: float) -> int:
    """Write the request's body to ``path`` as it arrives, refusing more than ``limit`` bytes."""
    size = written = 0
    try:
        with open(path, "wb") as stream:
            async for chunk in body_chunks(request.receive, idle_timeout):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "InputImageError", f"the upload is larger than the server takes "
                                                           f"({limit / 2**20:.0f} MiB)")
                stream.write(chunk)
                written = size
    except TimeoutError as error:
        raise ApiError(408, "InputImageError", f"the upload stalled: {error}") from None
    except ConnectionError as error:  # nobody hears the answer; no traceback in the log either
        logger.info("upload to %s stopped: %s", path.parent.name, error)
        raise ApiError(400, "InputImageError", str(error)) from None
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        logger.warning("upload to %s stopped: %s", path.parent.name, error.strerror or error)
        raise no_room(f"{error.strerror or error} after {written / 2**20:.0f} MiB") from None
    return size
