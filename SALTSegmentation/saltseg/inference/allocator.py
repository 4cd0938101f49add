"""Keeping freed window-sized buffers inside the process while windows run (glibc's malloc).

Every window allocates the same large tensors again: the network's activations (hundreds of MB
each for a full-size window), its output, the z-first copy of the features. glibc serves
allocations above 32 MB with a fresh ``mmap`` and returns them with ``munmap`` on free, so every
window faults in and zeroes gigabytes of new pages: measured, a third of the CPU time went to
the kernel. While :func:`retained_heap` is active, large blocks come from the heap and stay there
when freed (no mmap, no trimming), so the next window reuses them; on exit the settings go back to
glibc's defaults and the free memory is returned to the system (``malloc_trim``). Elsewhere (macOS,
Windows, musl) this does nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import sys
import threading
from typing import Iterator, Optional

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h) and glibc's defaults for them.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
#: The largest value mallopt takes (an int): free memory at the top of the heap up to 2 GiB stays.
RETAINED_TRIM_THRESHOLD = 2**31 - 1

_lock = threading.Lock()
_depth = 0


def _glibc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):  # absent from musl and other C libraries
            return None
        return libc
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def retained_heap() -> Iterator[bool]:
    """Inside, freed large blocks stay in the process for reuse; yields whether that is in effect.
    Nested and concurrent uses are counted: the defaults come back when the last one exits."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, RETAINED_TRIM_THRESHOLD)
            logger.debug("glibc: large blocks kept in the heap while windows run")
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def retained() -> bool:
    """Whether :func:`retained_heap` is in effect now (for tests)."""
    return _depth > 0
