"""Streaming HTTP(S) download of one file into a resumable partial file.

Only ``urllib.request``: its default opener honours ``http_proxy``/``https_proxy``/``no_proxy``
from the environment (and the system proxy settings on Windows and macOS). Verification of size
and sha256 happens on the bytes on disk, after the transfer, so a resumed file is checked whole.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from .. import __version__
from ..progress import CancelToken
from .errors import ChecksumError, DownloadError, OfflineError

logger = logging.getLogger(__name__)

#: ``progress(done_bytes, total_bytes or None, bytes_per_second)``
ByteProgress = Callable[[int, Optional[int], float], None]

_CHUNK = 1 << 16
_OFFLINE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}


@dataclass(frozen=True)
class TransferSettings:
    timeout: float = 30.0      # seconds for connecting and for each read; a stalled proxy fails
    retries: int = 3           # further attempts after the first, each resuming where possible
    retry_wait: float = 1.0    # first pause between attempts; doubles, capped at 30 s


class ProgressMeter:
    """Adds up the per-file progress of a multi-file download and throttles the callback."""

    def __init__(self, total: Optional[int], callback: Optional[ByteProgress], interval: float = 0.1) -> None:
        self.total, self.callback, self.interval = total, callback, interval
        self._done: dict[str, int] = {}
        self._received = 0
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, key: str, done: int, received: int = 0, force: bool = False) -> None:
        self._done[key] = done
        self._received += received
        now = time.monotonic()
        if self.callback is not None and (force or now - self._last >= self.interval):
            self._last = now
            # Speed counts only bytes moved in this session, not bytes resumed from disk.
            speed = self._received / max(now - self._start, 1e-6)
            self.callback(sum(self._done.values()), self.total, speed)


class _Retry(Exception):
    """A transient failure: worth another attempt."""

    def __init__(self, message: str, offline: bool = False, restart: bool = False) -> None:
        super().__init__(message)
        self.offline = offline
        self.restart = restart  # the partial file is unusable: start from byte 0


def sha256_of(path: Path, cancel: Optional[CancelToken] = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(block)
    return digest.hexdigest()


def _is_offline(reason: object) -> bool:
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in _OFFLINE_ERRNOS


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"saltseg/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        # A fresh opener reads the proxy environment now; urlopen() caches the first one forever.
        return urllib.request.build_opener().open(request, timeout=timeout)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            raise _Retry("the server refused to resume; starting over", restart=True) from error
        if error.code in (408, 425, 429) or error.code >= 500:
            raise _Retry(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        reason = error.reason
        host = urlsplit(url).hostname
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise _Retry(f"timed out after {timeout:g} s connecting to {host}") from error
        raise _Retry(f"cannot connect to {host}: {reason}", offline=_is_offline(reason)) from error
    except (TimeoutError, socket.timeout) as error:
        raise _Retry(f"timed out after {timeout:g} s waiting for {urlsplit(url).hostname}") from error
    except (OSError, http.client.HTTPException) as error:
        raise _Retry(f"connection failed: {error}") from error


def _content_range_start(value: Optional[str]) -> Optional[int]:
    match = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def _attempt(url: str, partial: Path, size: int, settings: TransferSettings, meter: ProgressMeter,
             cancel: Optional[CancelToken]) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    response = _open(url, have, settings.timeout)
    with response:
        if have and response.status == 206 and _content_range_start(response.headers.get("Content-Range")) == have:
            mode = "ab"
        else:
            if have:
                logger.info("%s does not support resuming; downloading from the start", urlsplit(url).hostname)
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and have + int(length) != size:
            # e.g. a git-LFS pointer (130 bytes) served instead of the object: not worth retrying.
            raise ChecksumError(f"{url} has {have + int(length)} bytes, the catalogue expects {size}")
        done = have
        meter.update(partial.name, done)
        read = getattr(response, "read1", response.read)
        with partial.open(mode) as out:
            while True:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                try:
                    # read1 returns what has arrived instead of blocking for a full chunk, so
                    # progress and cancel stay responsive on slow links.
                    chunk = read(_CHUNK)
                except (TimeoutError, socket.timeout) as error:
                    raise _Retry(f"no data for {settings.timeout:g} s (stalled connection or proxy)") from error
                except (OSError, http.client.HTTPException) as error:
                    raise _Retry(f"connection lost after {done} of {size} bytes ({error})") from error
                if not chunk:
                    break
                if done + len(chunk) > size:
                    raise ChecksumError(f"{url} sends more than the {size} bytes the catalogue expects")
                out.write(chunk)
                done += len(chunk)
                meter.update(partial.name, done, len(chunk))
    if done < size:
        raise _Retry(f"connection closed after {done} of {size} bytes")


def fetch_file(url: str, partial: Path, size: int, sha256: str, *, settings: TransferSettings,
               meter: ProgressMeter, cancel: Optional[CancelToken] = None) -> Path:
    """Download ``url`` into ``partial`` (resuming what is already there) and verify it.

    On a checksum mismatch the partial file is deleted (its bytes are worthless) and
    :class:`ChecksumError` raised; on other failures it is kept so the next call resumes.
    """
    partial.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        have = partial.stat().st_size if partial.exists() else 0
        if have > size:
            partial.unlink()
        elif have == size:
            break
        try:
            _attempt(url, partial, size, settings, meter, cancel)
            break
        except ChecksumError:
            partial.unlink(missing_ok=True)
            raise
        except _Retry as error:
            failures += 1
            if error.restart:
                partial.unlink(missing_ok=True)
            if failures > settings.retries:
                kind = OfflineError if error.offline else DownloadError
                tries = f"{failures} attempt{'s' if failures > 1 else ''}"
                raise kind(f"{url}: {error} ({tries})") from error
            wait = min(settings.retry_wait * 2 ** (failures - 1), 30.0)
            logger.warning("download of %s failed (%s); retrying in %.1f s", url, error, wait)
            _sleep(wait, cancel)
    meter.update(partial.name, size, force=True)
    actual = sha256_of(partial, cancel)
    if actual != sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"{url} was downloaded but its sha256 is {actual}, the catalogue expects {sha256}; "
            "the file was discarded (corrupted by a proxy, or the server has a different version)"
        )
    return partial


def _sleep(seconds: float, cancel: Optional[CancelToken]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cancel is not None:
            cancel.raise_if_cancelled()
        time.sleep(min(0.05, max(end - time.monotonic(), 0)))
