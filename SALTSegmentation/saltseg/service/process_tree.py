"""The processes below a process: listed, and ended together with it.

A library may start helper processes of its own (OpenVINO's telemetry forked one per import; a
fork of a multi-threaded process can deadlock and then never exit). When the engine ends, for
whatever reason, they must end with it:

* POSIX: the engine leads a process group (:func:`own_process_group`); :func:`end_children`
  kills its descendants and the other members of its group (a grandchild re-parented to init
  stays in the group) just before it exits.
* Windows: :func:`contain_children` puts the engine in a job object that kills every process in it
  when the engine's last handle closes, that is when it exits, however it exits.

Standard library only: the Slicer module imports this in Slicer's process (no torch there).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import NoReturn, Optional

logger = logging.getLogger(__name__)


def own_process_group() -> None:
    """Lead a process group, so that the front end can end this process and its children at once."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a group leader (started with start_new_session)
            pass


def _proc_table() -> Optional[list[tuple[int, int, int]]]:
    if not os.path.isdir("/proc"):
        return None
    table = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    fields = stat.read().rpartition(")")[2].split()  # state, ppid, pgrp, ...
                table.append((int(entry), int(fields[1]), int(fields[2])))
            except (OSError, IndexError, ValueError):  # ended while listed
                pass
    return table


def _ps_table() -> list[tuple[int, int, int]]:
    try:
        listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "pgid="], capture_output=True,
                                 text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning("cannot list processes (%s)", error)
        return []
    rows = (line.split() for line in listing.splitlines())
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows if len(r) == 3 and all(f.isdigit() for f in r)]


def process_table() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process the system lists (POSIX): ``/proc`` where
    there is one (no process started to read it), else ``ps`` (macOS)."""
    table = _proc_table()
    return _ps_table() if table is None else table


def descendants(pid: int, table: Optional[list[tuple[int, int, int]]] = None) -> list[int]:
    """Every process below ``pid`` (children, grandchildren…), parents before children (POSIX)."""
    children: dict[int, list[int]] = {}
    for child, parent, _ in process_table() if table is None else table:
        children.setdefault(parent, []).append(child)
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(0), ()):
            if child not in found and child != pid:
                found.append(child)
                pending.append(child)
    return found


def end_children() -> list[int]:
    """Kill (SIGKILL) every process this one started, directly or not; returns their pids. A
    helper that hangs would not honour a polite signal, and nothing of theirs needs saving."""
    if sys.platform == "win32":
        return []  # the job object of contain_children() ends them when this process exits
    me = os.getpid()
    table = process_table()
    doomed = descendants(me, table)
    if os.getpgrp() == me:  # only a group of our own: never the shell's or the front end's
        doomed += [pid for pid, _, group in table if group == me and pid != me and pid not in doomed]
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if doomed:
        logger.info("ended child processes %s", doomed)
    return doomed


def exit_now(code: int) -> NoReturn:
    """End this process at once, from any thread, and the processes it started with it."""
    try:
        end_children()
    finally:
        os._exit(code)


def _end_on_signal(signum: int, frame) -> None:
    end_children()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # the front end sees the signal it sent as the cause of the end


def end_children_on_termination() -> None:
    """A SIGTERM or SIGHUP (a polite kill, a closed session) ends the children too, not only this
    process (Python runs the handler between two bytecodes of the main thread)."""
    if sys.platform == "win32":
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _end_on_signal)


def contain_children() -> None:
    """Windows: every process started from now on ends when this one does (a job object)."""
    if sys.platform != "win32":
        return
    from .windows_job import kill_on_exit_job

    try:
        kill_on_exit_job()
    except OSError as error:  # e.g. inside a job that forbids nesting: the front end's taskkill /T still works
        logger.warning("child processes will not end with this process on their own (%s)", error)
