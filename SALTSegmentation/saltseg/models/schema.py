"""A small JSON-Schema validator for the keywords ``models.schema.json`` uses.

``jsonschema`` is not a runtime dependency (Slicer's Python must stay lean), yet user catalogues
deserve precise errors ("models[0].files[1].sha256: ..."), so we interpret the schema ourselves.
Unknown keywords raise, so the schema cannot silently grow beyond what is checked.
"""
from __future__ import annotations

import re
from typing import Any

SUPPORTED_KEYWORDS = frozenset({
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "required", "properties",
    "additionalProperties", "items", "enum", "pattern", "minimum", "minLength", "minItems", "maxItems",
})

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(instance: Any, schema: dict, root: dict | None = None, where: str = "") -> list[str]:
    """All violations of ``schema`` by ``instance``, each as ``"location: problem"``."""
    root = schema if root is None else root
    unknown = set(schema) - SUPPORTED_KEYWORDS
    if unknown:
        raise ValueError(f"schema uses unsupported keyword(s) {sorted(unknown)} at {where or '<root>'}")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        return schema_errors(instance, root["$defs"][ref[len("#/$defs/"):]], root, where)
    here = where or "<root>"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return [f"{here}: expected {' or '.join(types)}, got {type(instance).__name__} {instance!r:.60}"]
    errors: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{here}: {instance!r} is not one of {schema['enum']}")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{here}: must not be empty" if schema["minLength"] == 1
                          else f"{here}: shorter than {schema['minLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{here}: {instance!r} does not match {schema['pattern']}")
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{here}: {instance} is below the minimum {schema['minimum']}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{here}: needs at least {schema['minItems']} item(s), has {len(instance)}")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{here}: allows at most {schema['maxItems']} item(s), has {len(instance)}")
        if "items" in schema:
            for index, item in enumerate(instance):
                errors += schema_errors(item, schema["items"], root, f"{where}[{index}]")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{here}: missing required field '{key}'")
        properties = schema.get("properties", {})
        for key, value in instance.items():
            child = f"{where}.{key}" if where else key
            if key in properties:
                errors += schema_errors(value, properties[key], root, child)
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{here}: unknown field '{key}'")
    return errors
