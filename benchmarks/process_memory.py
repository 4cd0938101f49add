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


#: GNU time's verbose report: user and system CPU seconds, peak RSS (KiB), page faults.
GNU_TIME = "/usr/bin/time"
_TIME_FIELDS = {"User time (seconds)": "user_s", "System time (seconds)": "system_s",
                "Maximum resident set size (kbytes)": "max_rss_kib",
                "Minor (reclaiming a frame) page faults": "minor_faults"}


def with_gnu_time(command: list[str]) -> list[str]:
    """``command`` run under ``/usr/bin/time -v`` when it exists (else unchanged)."""
    return [GNU_TIME, "-v", *command] if os.access(GNU_TIME, os.X_OK) else command


def gnu_time_report(stderr: str) -> dict:
    """The fields of ``/usr/bin/time -v``'s report in ``stderr`` (empty when it did not run)."""
    found = {}
    for line in stderr.splitlines():
        name, _, value = line.strip().rpartition(": ")
        if name in _TIME_FIELDS:
            found[_TIME_FIELDS[name]] = float(value)
    return found
