"""The run options are declared once (SegmentOptions) and every front end derives from them: the
flags of segment and batch, the service's request check and its published JSON Schema, the console
keywords and the parameter node. A value the engine cannot take is refused with the same words."""
from __future__ import annotations

import json
import math

import jsonschema
import pytest

from saltseg.cli import build_parser
from saltseg.cli.segment_options import flag
from saltseg.errors import OptionError, RequestError
from saltseg.inference.options import SegmentOptions, option_specs
from saltseg.service.request_schema import SCHEMA_FILE, request_schema, schema_text
from saltseg.service.requests import parse_request

OPTION_NAMES = [spec.name for spec in option_specs()]


def subcommand_flags(name: str) -> set[str]:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    return set(subparsers.choices[name]._option_string_actions)


@pytest.mark.parametrize("command", ["segment", "batch"])
@pytest.mark.parametrize("option", OPTION_NAMES)
def test_every_option_is_a_flag_of_the_same_name(command, option):
    assert flag(option) in subcommand_flags(command)


def test_true_false_options_can_be_switched_off_by_flag():
    assert "--no-largest-component" in subcommand_flags("segment")


def request(**options) -> str:
    return json.dumps({"op": "segment", "input": "ct.nrrd", "output": "labels.nrrd", "options": options})


@pytest.mark.parametrize("option", ["overlap", "air_threshold_hu"])
def test_nan_is_refused_in_python(option):
    with pytest.raises(OptionError, match=f"option '{option}' must be a finite number"):
        SegmentOptions(**{option: math.nan})


@pytest.mark.parametrize("option", ["overlap", "air_threshold_hu"])
def test_nan_is_refused_by_the_service(option):
    with pytest.raises(RequestError, match=f"option '{option}' must be a finite number.*got NaN"):
        parse_request(request(**{option: math.nan}))


@pytest.mark.parametrize("option", ["overlap", "air_threshold_hu"])
def test_nan_is_refused_on_the_command_line(option, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["segment", "ct.nrrd", "-o", "out.seg.nrrd", flag(option), "nan"])
    assert f"{flag(option)} must be a finite number" in capsys.readouterr().err


def test_service_takes_every_option_by_its_name():
    parsed = parse_request(request(skip_air=True, only=["spine"], air_threshold_hu=-950))
    assert (parsed.options.skip_air, parsed.options.only, parsed.options.air_threshold_hu) == (True, ("spine",), -950.0)


def test_a_mistyped_option_name_lists_the_engines_names():
    with pytest.raises(RequestError, match="unknown option 'skip_airs'; the engine takes overlap, batch_size"):
        parse_request(request(skip_airs=True))


def test_published_schema_is_the_derived_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(request_schema())


GOOD = [{}, {"overlap": 0.25, "skip_air": True}, {"window_placement": None, "only": ["spine", "liver"]},
        {"backend": "torch", "precision": "bf16", "batch_size": 4}, {"host_memory_limit": 1 << 30}]
BAD = [{"overlap": 1.0}, {"overlap": -0.1}, {"batch_size": 0}, {"backend": "tensorrt"}, {"skip_air": "yes"},
       {"only": "spine"}, {"window_placement": "middle"}, {"batch_size": 1.5}, {"no_such_option": 1}]


@pytest.mark.parametrize("options", GOOD)
def test_schema_and_service_accept_the_same_requests(options):
    jsonschema.validate(json.loads(request(**options)), request_schema())
    assert parse_request(request(**options)).options == SegmentOptions(**{
        name: tuple(value) if isinstance(value, list) else value for name, value in options.items()})


@pytest.mark.parametrize("options", BAD)
def test_schema_refuses_what_the_service_refuses(options):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(request(**options)), request_schema())


@pytest.mark.parametrize("options", BAD)
def test_service_refuses_what_the_schema_refuses(options):
    with pytest.raises(RequestError):
        parse_request(request(**options))


def test_fast_preset_then_explicit_options():
    assert SegmentOptions.from_mapping({"overlap": 0.4}, fast=True) == SegmentOptions(overlap=0.4, skip_air=True)
