"""Errors cross the process boundary as the engine's own classes: a front end tests
``isinstance(error, ModelNotInstalledError)``, never class names or message text."""
from __future__ import annotations

import pytest

import slicer_test_support  # noqa: F401  (puts the module folder on sys.path)
from SALTSegmentationLib.processes.engine_job import EngineError, engine_error
from saltseg.errors import OutOfMemoryError, SaltSegError
from saltseg.models.errors import ModelNotInstalledError
from saltseg.service.errors import error_class, report_error


def all_engine_errors() -> list[type]:
    found, pending = [], [SaltSegError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_a_registry_error_arrives_as_its_own_class():
    assert isinstance(engine_error("ModelNotInstalledError", "model 'm' is not installed"), ModelNotInstalledError)


def test_the_message_arrives_verbatim():
    assert str(engine_error("OutOfMemoryError", "try the CPU")) == "try the CPU"


def test_an_engine_bug_is_no_engine_error_class():
    assert type(engine_error("InternalError", "KeyError: 'x'")) is EngineError


@pytest.mark.parametrize("cls", all_engine_errors(), ids=lambda cls: cls.__name__)
def test_every_engine_error_name_names_one_class(cls):
    assert error_class(cls.__name__) is cls


def test_what_the_engine_reports_comes_back_as_the_same_class():
    events = []
    report_error(lambda kind, **fields: events.append(fields), OutOfMemoryError("GPU memory ran out"))
    assert isinstance(engine_error(events[0]["type"], events[0]["message"]), OutOfMemoryError)
