"""The options reference (docs/cli/reference.md) says what ``saltseg ... --help`` says: it is the
generator's output for the parsers as they are now, and every option and help text of every
sub-command's ``--help`` is on it."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from saltseg.cli import build_parser

REPOSITORY = Path(__file__).resolve().parents[2]
GENERATOR = REPOSITORY / "docs" / "gen_cli_reference.py"
REGENERATE = "python docs/gen_cli_reference.py"
#: Every command's own help option: the page says so once, at its top.
HELP_OPTIONS = {"-h", "--help"}


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()


def commands(parser=None, prog: str = "saltseg") -> list[tuple[str, object]]:
    """(prog, parser) of ``saltseg`` and every sub-command, nested ones included."""
    parser = parser or build_parser()
    found = [(prog, parser)]
    for name, _, sub in gen.subcommands(parser):
        found += commands(sub, f"{prog} {name}")
    return found


def page_sections() -> dict[str, str]:
    """The committed page's sections by command (``saltseg models install`` → its text)."""
    text = PAGE_TEXT
    headings = list(re.finditer(r"^#{2,4} `(saltseg[^`]*)`$", text, re.MULTILINE))
    return {match.group(1): text[match.end(): headings[i + 1].start() if i + 1 < len(headings) else len(text)]
            for i, match in enumerate(headings)}


PAGE_TEXT = gen.PAGE.read_text(encoding="utf-8") if gen.PAGE.is_file() else ""


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_committed_page_is_the_generators_output():
    assert PAGE_TEXT == gen.build(), f"docs/cli/reference.md is out of date: run `{REGENERATE}`"


def test_the_page_says_every_command_takes_help():
    assert "Every command also takes `-h`, `--help`" in PAGE_TEXT


def test_every_command_has_a_section():
    missing = sorted({prog for prog, _ in commands()} - set(page_sections()))
    assert missing == [], f"commands without a section (run `{REGENERATE}`): {missing}"


@pytest.mark.parametrize("prog", [prog for prog, _ in commands()])
def test_every_option_of_help_is_in_its_section(prog, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at the terminal's width: one line per option
    parser = dict(commands())[prog]
    help_text = parser.format_help()
    # The option lines of --help: "  -o OUTPUT, --output OUTPUT   help ..." (the part before the help).
    invocations = re.findall(r"^  (-.*?)(?:\s{2,}|$)", help_text, re.MULTILINE)
    options = {name for line in invocations for name in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", line)}
    section = page_sections().get(prog, "")
    missing = sorted(option for option in options - HELP_OPTIONS if f"`{option}`" not in section)
    assert missing == [], f"{prog}: options of --help missing from the page (run `{REGENERATE}`): {missing}"


@pytest.mark.parametrize("prog", [prog for prog, _ in commands()])
def test_every_help_text_of_help_is_in_its_section(prog, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    parser = dict(commands())[prog]
    help_text = flat(parser.format_help())
    section = flat(gen.unescape(page_sections().get(prog, "")))
    for action in gen.documented_actions(parser):
        text = flat(gen.expanded_help(action, parser.prog))
        assert text in help_text, f"{prog}: the generator expands {action.dest}'s help unlike argparse"
        assert text in section, f"{prog}: {action.dest}'s help differs from --help (run `{REGENERATE}`)"


def test_the_page_escapes_what_markdown_would_format():
    assert gen.unescape(gen.escape("<output>.<node>.nii.gz | a*b [x] skip_air")) == \
        "<output>.<node>.nii.gz | a*b [x] skip_air"
