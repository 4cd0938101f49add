"""The long-lived parts of the HTTP API as plain ASGI: the job's event stream, a result file's
download and the upload, each holding its job "attached" (its client is there) for as long as it
runs, and noticing a client that goes away at once (an ``http.disconnect``), not at the next write.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, MutableMapping, Optional

from .api import FINISHED, HEARTBEAT_S
from .job_queue import Job, JobQueue

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Bytes per read of a result file.
CHUNK = 1 << 20
#: Seconds between two looks at a job's status for its event stream.
POLL_S = 0.1


async def _until_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


class EventStream:
    """``text/event-stream`` of the job's status (``data: {json}``) at every change, ending with a
    finished one; a comment line every :data:`HEARTBEAT_S` seconds in between."""

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self.queue, self.job = queue, job

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_until_disconnect(receive, gone))
        self.queue.attach(self.job)
        loop = asyncio.get_running_loop()
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
            sent_version, beat = -1, loop.time()
            while not gone.is_set():
                status = self.queue.status(self.job)
                if status["version"] != sent_version:
                    sent_version = status["version"]
                    data = json.dumps(status, separators=(",", ":"))
                    await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})
                    beat = loop.time()
                    if status["state"] in FINISHED:
                        break
                elif loop.time() - beat >= HEARTBEAT_S:
                    await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                    beat = loop.time()
                try:
                    await asyncio.wait_for(gone.wait(), POLL_S)
                except asyncio.TimeoutError:
                    pass
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we wrote
            gone.set()
        finally:
            watcher.cancel()
            self.queue.detach(self.job, stream_closed=gone.is_set())
            if gone.is_set() and self.job.state not in FINISHED:
                logger.info("job %s: its event stream was closed by the client", self.job.id)


class FileDownload:
    """One result file, streamed; a complete send is reported to the queue (which deletes the
    results once every file went out)."""

    def __init__(self, queue: JobQueue, job: Job, name: str, path: Path) -> None:
        self.queue, self.job, self.name, self.path = queue, job, name, path

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_until_disconnect(receive, gone))
        self.queue.attach(self.job)
        complete = False
        try:
            with open(self.path, "rb") as stream:
                size = self.path.stat().st_size
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/octet-stream"),
                                        (b"content-length", str(size).encode()),
                                        (b"content-disposition", f'attachment; filename="{self.name}"'.encode())]})
                sent = 0
                while not gone.is_set():
                    block = stream.read(CHUNK)
                    sent += len(block)
                    await send({"type": "http.response.body", "body": block, "more_body": bool(block)})
                    if not block:
                        complete = sent == size
                        break
        except OSError:
            pass
        finally:
            watcher.cancel()
            self.queue.detach(self.job)
        if complete:
            self.queue.downloaded(self.job, self.name)
        else:
            logger.info("job %s: download of %s stopped by the client", self.job.id, self.name)


async def body_chunks(receive: Receive, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body as it arrives; :class:`TimeoutError` when nothing comes for
    ``idle_timeout`` seconds, :class:`ConnectionError` when the client goes away before its end."""
    while True:
        try:
            message = await asyncio.wait_for(receive(), idle_timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no data for {idle_timeout:g} s") from None
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client closed the connection during the upload")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def declared_length(scope: Message) -> Optional[int]:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
