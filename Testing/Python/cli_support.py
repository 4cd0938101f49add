"""``saltseg`` run as users run it, in its own process, under conditions a test cannot make inside
pytest's process: a file size limit (a disk that fills up during the write), its own process
group (Ctrl-C from a terminal), and folders that refuse new files."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import pytest

#: ``python -c`` program: ``saltseg ARGS`` with files limited to LIMIT bytes. A write beyond the
#: limit fails with EFBIG ("File too large"), as one on a full disk fails with ENOSPC; SIGXFSZ,
#: which would kill the process instead, is ignored.
_WITH_FILE_SIZE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from saltseg.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _environment() -> dict:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def run_saltseg(args: Sequence[str], file_size_limit: Optional[int] = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """``saltseg ARGS`` in a new process (files limited to ``file_size_limit`` bytes if given)."""
    if file_size_limit is None:
        command = [sys.executable, "-m", "saltseg", *map(str, args)]
    else:
        if sys.platform == "win32":
            pytest.skip("file size limits (RLIMIT_FSIZE) are POSIX")
        command = [sys.executable, "-c", _WITH_FILE_SIZE_LIMIT, str(file_size_limit), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_environment())


def start_saltseg(args: Sequence[str]) -> subprocess.Popen:
    """``saltseg ARGS`` started in a session and process group of its own (its id is the
    process's), as a shell starts a foreground job: a terminal's Ctrl-C reaches the whole group."""
    return subprocess.Popen([sys.executable, "-m", "saltseg", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=_environment())


def live_processes_in_group(group: int, wait_s: float = 15.0) -> list[str]:
    """The processes of process group ``group`` still alive (zombies are dead: not counted) after
    waiting up to ``wait_s`` seconds for them to go; ``pid command`` each (Linux /proc)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux's /proc to list a process group")
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended meanwhile
                continue
            state, _, pgid = text[text.rindex(")") + 2:].split()[:3]
            if int(pgid) == group and state != "Z":
                alive.append(f"{stat.parent.name} {command.strip()}")
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def unwritable_folder(folder: Path) -> Path:
    """A folder this process cannot create files in. root may write anywhere chmod forbids, so
    for root a kernel folder that refuses new files is used (Linux)."""
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/sys").is_dir():
        pytest.skip("running as root without /sys: no folder refuses root's writes")
    return Path("/sys")


def folder_contents(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden and temporary ones too) with its bytes; folders as b""."""
    return {str(path.relative_to(folder)): b"" if path.is_dir() else path.read_bytes()
            for path in sorted(folder.rglob("*"))}
