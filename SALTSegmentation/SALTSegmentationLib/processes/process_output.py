"""What a process runner does with a child's output and exit, without Qt: splitting byte chunks
into lines, the exit code of a crash, the message of a failed start. ``QProcessRunner``
(:mod:`.qt_process`) uses these, so pytest reaches the logic Slicer runs."""
from __future__ import annotations


class LineSplitter:
    """Bytes arrive in arbitrary chunks (a line, a UTF-8 character or a ``\\r\\n`` may be cut
    between two reads); ``feed`` returns the complete lines so far, decoded, without line ends."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]

    @property
    def pending(self) -> bytes:
        """The start of a line not ended yet (a process that exits mid-line leaves it here)."""
        return self._pending


def exit_code_of(exit_code: int, crashed: bool) -> int:
    """The code reported for a finished process. Qt gives a crash's signal number (POSIX) as its
    exit code; report it as a shell does (128 + N), so that a crash is never mistaken for an exit."""
    code = int(exit_code)
    if crashed and 0 < code < 128:
        code += 128
    return code


#: what ``on_finished`` receives when the process never started (no exit code exists)
FAILED_START = (-1, True)


def failed_start_message(error_string: str) -> str:
    return f"could not start the engine process: {error_string}"
