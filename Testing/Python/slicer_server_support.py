"""For the "Run on a SALT server" tests (no tests here): Slicer's application settings as the
module sees them — an INI file on disk, as ``QSettings`` keeps them on Linux, read back as strings
(``"true"``/``"false"``) by a fresh object — and a recording view of the "Run on" rows. The real
``saltseg serve`` the end-to-end tests talk to is :mod:`server_support`'s."""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

GENERAL = "General"


class IniSettings:
    """``QSettings``' ``value``/``setValue``/``remove`` over an INI file, written at every change
    (keys ``Group/Name`` → section ``Group``, as QSettings writes them). Another object on the same
    file sees the values, as another ``QSettings()`` does."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
        parser.read(self.path, encoding="utf-8")
        return parser

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        group, _, name = key.rpartition("/")
        return group or GENERAL, name

    def value(self, key: str, default: Any = None) -> Any:
        section, name = self._split(key)
        parser = self._read()
        return parser.get(section, name) if parser.has_option(section, name) else default

    def setValue(self, key: str, value: Any) -> None:  # noqa: N802 - QSettings' API
        section, name = self._split(key)
        parser = self._read()
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, name, ("true" if value else "false") if isinstance(value, bool) else str(value))
        with open(self.path, "w", encoding="utf-8") as handle:
            parser.write(handle)

    def remove(self, key: str) -> None:
        section, name = self._split(key)
        parser = self._read()
        if parser.has_option(section, name):
            parser.remove_option(section, name)
            with open(self.path, "w", encoding="utf-8") as handle:
                parser.write(handle)


class RecordingPanel:
    """The "Run on" rows as the module shows them (:class:`RunLocationView`)."""

    def __init__(self) -> None:
        self.shown = None
        self.problem = ""
        self.management = True

    def show_run_location(self, settings) -> None:
        self.shown = settings

    def set_server_problem(self, text: str) -> None:
        self.problem = text

    def set_model_management(self, enabled: bool) -> None:
        self.management = enabled

