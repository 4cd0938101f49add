"""``QProcessRunner`` — what Slicer runs the engine with — driven through a fake ``QProcess`` that
speaks PythonQt's API (signals connected by their normalized C++ signature, ``QByteArray``
results whose ``data()`` is ``bytes``), and its Qt-free logic: line splitting, the exit code of a
crash, a failed start."""
from __future__ import annotations

import importlib
import sys
import types

import pytest

from SALTSegmentationLib.processes.process_output import FAILED_START, LineSplitter, exit_code_of

SIGNALS = ("readyReadStandardOutput()", "readyReadStandardError()", "finished(int,QProcess::ExitStatus)",
           "errorOccurred(QProcess::ProcessError)")


class FakeQByteArray:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def data(self) -> bytes:  # PythonQt: QByteArray.data() gives Python bytes
        return self._data

    def __str__(self) -> str:  # what a careless str() would give: not the text
        return repr(self._data)


class FakeQProcessEnvironment:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def insert(self, key: str, value: str) -> None:
        self.values[key] = value


class FakeQProcess:
    """The QProcess calls QProcessRunner makes, plus ``emit_*`` for the test to play the child."""

    NotRunning, Starting, Running = 0, 1, 2
    NormalExit, CrashExit = 0, 1
    FailedToStart, Crashed = 0, 1
    created: list["FakeQProcess"] = []

    def __init__(self) -> None:
        self.slots: dict[str, object] = {}
        self.environment = None
        self.started_with = None
        self.written: list[bytes] = []
        self._state = self.NotRunning
        self._out = {"out": b"", "err": b""}
        FakeQProcess.created.append(self)

    def connect(self, signature: str, slot) -> None:
        if signature not in SIGNALS:  # PythonQt refuses a signature QProcess does not have
            raise ValueError(f"QProcess has no signal {signature}")
        self.slots[signature] = slot

    def setProcessEnvironment(self, environment) -> None:
        self.environment = environment

    def start(self, program: str, args: list) -> None:
        self.started_with = (program, list(args))
        self._state = self.Running

    def state(self) -> int:
        return self._state

    def processId(self) -> int:
        return 0  # never a real pid: kill() must not signal anything on this machine

    def readAllStandardOutput(self) -> FakeQByteArray:
        data, self._out["out"] = self._out["out"], b""
        return FakeQByteArray(data)

    def readAllStandardError(self) -> FakeQByteArray:
        data, self._out["err"] = self._out["err"], b""
        return FakeQByteArray(data)

    def write(self, data) -> None:
        assert isinstance(data, bytes)  # PythonQt converts bytes to QByteArray
        self.written.append(data)

    def errorString(self) -> str:
        return "execve: No such file or directory"

    def kill(self) -> None:
        self._killed = True  # as in Qt: finished() comes later, from the event loop or waitForFinished

    def waitForFinished(self, msecs: int = 30000) -> bool:
        if self._state == self.NotRunning:
            return False
        if getattr(self, "_killed", False):
            self.emit_finished(9, self.CrashExit)
            return True
        return False  # a child that does not end within msecs

    # the child's side
    def emit_stdout(self, data: bytes) -> None:
        self._out["out"] += data
        self.slots["readyReadStandardOutput()"]()

    def emit_stderr(self, data: bytes) -> None:
        self._out["err"] += data
        self.slots["readyReadStandardError()"]()

    def emit_finished(self, code: int, status: int, unread_stdout: bytes = b"") -> None:
        self._out["out"] += unread_stdout  # output still buffered when finished() arrives
        self._state = self.NotRunning
        self.slots["finished(int,QProcess::ExitStatus)"](code, status)

    def emit_failed_start(self) -> None:
        self._state = self.NotRunning
        self.slots["errorOccurred(QProcess::ProcessError)"](self.FailedToStart)


@pytest.fixture
def runner(monkeypatch):
    """A QProcessRunner from the real qt_process module, imported against the fake ``qt``."""
    fake_qt = types.SimpleNamespace(QProcess=FakeQProcess, QProcessEnvironment=FakeQProcessEnvironment)
    monkeypatch.setitem(sys.modules, "qt", fake_qt)
    monkeypatch.delitem(sys.modules, "SALTSegmentationLib.processes.qt_process", raising=False)
    module = importlib.import_module("SALTSegmentationLib.processes.qt_process")
    monkeypatch.delitem(sys.modules, "SALTSegmentationLib.processes.qt_process")  # no fake-bound module left behind
    FakeQProcess.created.clear()
    runner = module.QProcessRunner()
    events: list[tuple] = []
    runner.on_stdout_line = lambda line: events.append(("out", line))
    runner.on_stderr_line = lambda line: events.append(("err", line))
    runner.on_finished = lambda code, crashed: events.append(("finished", code, crashed))
    runner.events = events
    return runner


def test_start_connects_every_signal_by_its_pythonqt_signature(runner):
    runner.start("/opt/python", ["-m", "saltseg.service", "serve"], env={"SALTSEG_HOME": "/models"})
    [process] = FakeQProcess.created
    assert set(process.slots) == set(SIGNALS)
    assert process.started_with == ("/opt/python", ["-m", "saltseg.service", "serve"])
    assert process.environment.values == {"SALTSEG_HOME": "/models"}
    assert runner.is_running()
    with pytest.raises(RuntimeError, match="already running"):
        runner.start("/opt/python", [])


def test_output_in_arbitrary_chunks_arrives_as_whole_decoded_lines(runner):
    runner.start("/opt/python", [])
    process = FakeQProcess.created[0]
    process.emit_stdout(b'{"event": "rea')
    assert runner.events == []  # nothing before the line is complete
    process.emit_stdout(b'dy"}\r\n{"name": "Gro\xc3')  # a CRLF line end; "ß" cut in two
    process.emit_stdout(b'\x9fe Zehe"}\n')
    process.emit_stderr(b"warning: low memory\nsecond")
    process.emit_finished(0, FakeQProcess.NormalExit, unread_stdout=b'{"event": "bye"}\n')
    assert runner.events == [("out", '{"event": "ready"}'), ("out", '{"name": "Große Zehe"}'),
                             ("err", "warning: low memory"),
                             ("out", '{"event": "bye"}'),  # read before on_finished
                             ("finished", 0, False)]


@pytest.mark.parametrize("code, status, expected", [(0, FakeQProcess.NormalExit, (0, False)),
                                                    (3, FakeQProcess.NormalExit, (3, False)),
                                                    (11, FakeQProcess.CrashExit, (139, True)),
                                                    (9, FakeQProcess.CrashExit, (137, True))])
def test_exit_and_crash_codes_reach_on_finished(runner, code, status, expected):
    runner.start("/opt/python", [])
    FakeQProcess.created[0].emit_finished(code, status)
    assert runner.events == [("finished", *expected)]
    assert not runner.is_running()


def test_a_failed_start_says_why_and_finishes_once(runner):
    runner.start("/no/such/python", [])
    FakeQProcess.created[0].emit_failed_start()
    assert runner.events == [("err", "could not start the engine process: execve: No such file or directory"),
                             ("finished", *FAILED_START)]
    FakeQProcess.created[0].slots["errorOccurred(QProcess::ProcessError)"](FakeQProcess.Crashed)
    assert len(runner.events) == 2  # other errors are followed by finished(), not reported twice


def test_requests_are_written_as_utf8_lines_only_while_running(runner):
    with pytest.raises(RuntimeError, match="not running"):
        runner.write_line("{}")
    runner.start("/opt/python", [])
    runner.write_line('{"op": "segment", "input": "Zähne.nrrd"}\n')
    assert FakeQProcess.created[0].written == ['{"op": "segment", "input": "Zähne.nrrd"}\n'.encode("utf-8")]
    runner.kill()
    assert runner.events[-1] == ("finished", 137, True) and not runner.is_running()


def test_line_splitter_and_exit_codes_without_qt():
    splitter = LineSplitter()
    assert splitter.feed(b"a\r") == [] and splitter.feed(b"\nb\n\nc") == ["a", "b", ""]
    assert splitter.pending == b"c"
    assert splitter.feed(b"\xff\n") == ["c\ufffd"]  # undecodable bytes never raise
    assert [exit_code_of(c, crashed) for c, crashed in ((0, False), (1, False), (6, True), (139, True))] == \
        [0, 1, 134, 139]
