"""Memory of the current process, for the benchmarks (Linux /proc, psutil where installed)."""
from __future__ import annotations

import os
import resource


def rss_mb() -> float:
    """Resident memory now."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak RSS of this process: VmHWM (Linux). ``ru_maxrss`` is not used because Linux carries
    the parent's high-water mark over fork + exec into the child's ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux; macOS: bytes
