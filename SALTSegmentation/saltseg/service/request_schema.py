"""The engine service's request as a JSON Schema (draft 2020-12), derived from the declarations.

The schema is published in the package (``saltseg/resources/segment_request.schema.json``) for
front ends written in other languages; a test checks that the published file is what this module
derives, so it cannot drift from the job's fields and the run options.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..device_names import DEVICE_CHOICES, DEVICE_PATTERN
from ..inference.options import OptionSpec, option_specs
from ..job.description import job_fields
from ..outputs.formats import format_choices
from ..outputs.probability_maps import PROBABILITY_DTYPES
from .requests import OPERATION_FIELDS, OPERATIONS

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "resources" / "segment_request.schema.json"
#: ``"server"``: run the request on a SALT server (never written to any file or log).
SERVER_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "run on this SALT server (saltseg serve) instead of here; the job's files are still written "
                   "where it says. Where the job runs, not what it is: never stored",
    "properties": {"url": {"type": "string", "pattern": "^https?://[^/?#@]+/?$", "description": "the server's root"},
                   "token": {"type": "string", "minLength": 1, "description": "the server's access token"},
                   "ca_file": {"type": ["string", "null"], "description": "PEM file of the certificate(s) to trust"}},
    "required": ["url", "token"],
    "additionalProperties": False,
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", tuple: "array", dict: "object"}


def _option_schema(spec: OptionSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _JSON_TYPES[spec.kind], "description": spec.help}
    if spec.kind is tuple:
        schema["items"] = {"type": "string", "minLength": 1}
    rule = spec.rule
    if rule.choices:
        schema["enum"] = list(rule.choices)
    if rule.minimum is not None:
        schema["minimum"] = rule.minimum
    if rule.below is not None:
        schema["exclusiveMaximum"] = rule.below
    if spec.nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"].append(None)
    schema["default"] = list(spec.default) if isinstance(spec.default, tuple) else spec.default
    return schema


def request_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {"op": {"type": "string", "enum": list(OPERATIONS), "description": "what to do"}}
    for item in job_fields():
        kind = item.metadata["json"]
        schema: dict[str, Any] = {"type": [kind, "null"], "description": item.metadata["help"]}
        if kind == "array":
            schema["items"] = {"type": "string", "minLength": 1}
        properties[item.name] = schema
    properties["input"]["type"] = "string"
    properties["input"]["minLength"] = 1
    properties["device"]["anyOf"] = [{"enum": [*DEVICE_CHOICES, None]}, {"pattern": f"^{DEVICE_PATTERN}$"}]
    properties["format"]["enum"] = ["auto", *format_choices(), None]
    properties["probabilities_dtype"]["enum"] = [*PROBABILITY_DTYPES, None]
    properties["uncertain_below"].update(exclusiveMinimum=0, maximum=1)
    properties["options"].update(properties=({spec.name: _option_schema(spec) for spec in option_specs()}),
                                 additionalProperties=False)
    properties["server"] = SERVER_SCHEMA
    segment = {"required": ["input"],
               "anyOf": [{"required": ["output"], "properties": {"output": {"type": "string", "minLength": 1}}},
                         {"required": ["labelmap"], "properties": {"labelmap": {"type": "string", "minLength": 1}}}]}
    others = [{"if": {"properties": {"op": {"const": op}}},
               "then": {"propertyNames": {"enum": ["op", *fields]}}} for op, fields in OPERATION_FIELDS.items()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "saltseg engine service: a request (segment: a serialised segmentation job; models, load, cancel)",
        "description": "One JSON object per line on the engine service's stdin (python -m saltseg.service serve).",
        "type": "object",
        "properties": properties,
        "required": ["op"],
        "allOf": [{"if": {"properties": {"op": {"const": "segment"}}}, "then": segment}, *others],
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The published file's text (stable key order, a trailing newline)."""
    return json.dumps(request_schema(), indent=2) + "\n"


if __name__ == "__main__":  # regenerate: python -m saltseg.service.request_schema
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(SCHEMA_FILE)
