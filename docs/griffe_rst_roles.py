"""Griffe extension for the Python API pages.

* The engine's docstrings use Sphinx's inline roles (``:func:`run_job```,
  ``:class:`~.description.SegmentJob```) and ``::`` before a literal block, which Markdown would
  print as they are. Each role becomes a code span of the name it points to (the last component
  where the target starts with ``~``, as Sphinx shows it); the docstrings stay as they are.
* The fields of the engine's declarations (:class:`SegmentOptions`, :class:`SegmentJob`) carry
  their help in ``dataclasses.field(metadata=...)``, the text every front end shows: that text
  becomes the field's documentation, so the reference says what ``--help`` says.
* Other dataclass fields are explained by a ``#:`` comment above them or a ``# ...`` comment at
  the end of their line, which Python does not keep: those comments become their documentation.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import re
from pathlib import Path
from typing import Any, Optional

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`([^`]+)`")
LITERAL_BLOCK_MARKER = re.compile(r"(\S)::\n", re.MULTILINE)
CODE_SPAN = re.compile(r"(`+[^`]*`+)")
#: A comment after the code on a line (not a ``#`` inside a string: good enough for field lines).
END_OF_LINE_COMMENT = re.compile(r"""^[^#'"]*(?:(?:'[^']*'|"[^"]*")[^#'"]*)*#(?!:)\s*(.+)$""")
logger = logging.getLogger(__name__)


def _name(target: str) -> str:
    target = target.strip()
    if target.startswith("~"):
        return target.lstrip("~.").rsplit(".", 1)[-1]
    return target.lstrip(".")


def _escape_angle_brackets(line: str) -> str:
    """``<output>.<node>.nii.gz`` outside code spans as text, not as an HTML tag Markdown would drop."""
    parts = CODE_SPAN.split(line)
    return "".join(part if part.startswith("`") else part.replace("<", "&lt;").replace(">", "&gt;")
                   for part in parts)


def markdown_docstring(text: str) -> str:
    """The docstring with Sphinx roles as code spans, ``text::`` as ``text:`` and ``<name>`` as
    text (literal blocks, indented by four spaces, are left as they are)."""
    text = ROLE.sub(lambda match: f"`{_name(match.group(1))}`", text)
    text = LITERAL_BLOCK_MARKER.sub(r"\1:\n", text)
    return "\n".join(line if line.startswith("    ") else _escape_angle_brackets(line) for line in text.split("\n"))


def field_help(field: dataclasses.Field) -> Optional[str]:
    """A declared field's help: ``metadata["help"]`` (a job field) or ``metadata["option"].help``
    (a run option)."""
    if "help" in field.metadata:
        return str(field.metadata["help"])
    rule = field.metadata.get("option")
    return getattr(rule, "help", None)


def _runtime_class(path: str) -> Optional[type]:
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name, None)
    except Exception as error:  # a module the docs build cannot import keeps its static docs
        logger.info("not importing %s for its field help: %s", path, error)
        return None


def field_comment(cls: griffe.Class, member: griffe.Object) -> Optional[str]:
    """The ``#:`` comment lines right above ``member``'s line, else its end-of-line comment."""
    filepath = cls.filepath
    lines = cls.lines_collection[filepath] if isinstance(filepath, Path) and filepath in cls.lines_collection else None
    if not lines or member.lineno is None:
        return None
    above = []
    number = member.lineno - 2  # the line before the member's, 0-based
    while number >= 0 and lines[number].strip().startswith("#:"):
        above.insert(0, lines[number].strip()[2:].strip())
        number -= 1
    if above:
        return " ".join(above)
    trailing = END_OF_LINE_COMMENT.search(lines[(member.endlineno or member.lineno) - 1])
    return trailing.group(1).strip() if trailing else None


class SphinxRolesToMarkdown(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`markdown_docstring`, and documents the
    fields of dataclasses declared with help texts."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if "dataclass" not in cls.labels:
            return
        runtime = _runtime_class(cls.path)
        if runtime is None or not dataclasses.is_dataclass(runtime):
            return
        for field in dataclasses.fields(runtime):
            text = field_help(field)
            member = cls.members.get(field.name)
            if text and member is not None and member.docstring is None:
                member.docstring = griffe.Docstring(markdown_docstring(text), parent=member)
        for member in cls.members.values():
            if member.is_attribute and member.docstring is None:
                comment = field_comment(cls, member)
                if comment:
                    member.docstring = griffe.Docstring(markdown_docstring(comment), parent=member)
