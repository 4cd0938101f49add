"""Watching a process tree from the outside: a ``sitecustomize`` put on a subprocess's
PYTHONPATH that makes every network contact fail and records it (in that process and every Python
process below it), optionally starts a long-lived helper child like a library's worker, and a
listing of the processes that remain in a session (Linux ``/proc``)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

#: Environment variables the guard reads: where to record contacts, where to write the helper's pid.
NETWORK_RECORD = "SALTSEG_TEST_NETWORK_RECORD"
HELPER_PID_FILE = "SALTSEG_TEST_HELPER_PID_FILE"
#: What makes OpenVINO's telemetry decline on its own (``opt_in_checker._run_in_ci``): removed, so
#: that a run under CI behaves as on a user's machine.
CI_VARIABLES = ("CI", "TF_BUILD", "JENKINS_URL")

SITECUSTOMIZE = r'''
import os, socket, subprocess, sys

_record = os.environ.get("SALTSEG_TEST_NETWORK_RECORD")
if _record:
    def _refuse(kind, target):
        # Recorded before refusing: a forked child may be killed right after its attempt.
        with open(_record, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {kind} {target!r}\n")
        raise OSError(f"network contact refused by the test guard: {kind} {target!r}")

    def _connect(self, address, *args, **kwargs):
        _refuse("connect", address)

    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect
    for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo",
                  "create_connection"):
        setattr(socket, _name, lambda *args, _kind=_name, **kwargs: _refuse(_kind, args[:2]))

_helper = os.environ.pop("SALTSEG_TEST_HELPER_PID_FILE", None)
if _helper:
    # Like a library's worker: a child of its own that outlives its parent unless someone ends it
    # (-S: it does not load this file again).
    _child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(600)"])
    with open(_helper, "w", encoding="ascii") as out:
        out.write(str(_child.pid))
'''


def guarded_environment(folder: Path, base: Optional[dict] = None, helper: bool = False) -> dict[str, str]:
    """``base`` (default: this process's environment) with the guard on PYTHONPATH, contacts
    recorded in ``folder/network.log``, HOME (and Windows' profile folders) in ``folder/home``,
    the CI variables removed, and, with ``helper``, a helper child whose pid goes to ``folder/helper.pid``."""
    guard = folder / "guard"
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ if base is None else base)
    for name in CI_VARIABLES:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join([str(guard)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env[NETWORK_RECORD] = str(network_record(folder))
    for name in ("HOME", "USERPROFILE", "LOCALAPPDATA", "APPDATA"):
        env[name] = str(home)
    if helper:
        env[HELPER_PID_FILE] = str(folder / "helper.pid")
    return env


def network_record(folder: Path) -> Path:
    return folder / "network.log"


def network_contacts(folder: Path) -> list[str]:
    """The contacts the guard refused, one line each (pid, kind, target)."""
    path = network_record(folder)
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def helper_pid(folder: Path, within: float = 30.0) -> int:
    path = folder / "helper.pid"
    deadline = time.monotonic() + within
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"no helper child was started ({path} missing)")
        time.sleep(0.05)
    return int(path.read_text())


def _stat_fields(pid: str) -> Optional[list[str]]:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return None


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of ``session``: what a process that leads it left behind,
    wherever its children were re-parented."""
    members = []
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        # After ")": state, ppid, pgrp, session.
        if fields and len(fields) > 3 and int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry))
    return members


def remaining_after(session: int, within: float) -> list[int]:
    """The members of ``session`` still alive after waiting up to ``within`` seconds for none."""
    deadline = time.monotonic() + within
    while True:
        members = session_members(session)
        if not members or time.monotonic() >= deadline:
            return members
        time.sleep(0.1)


def kill_all(pids) -> None:
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
