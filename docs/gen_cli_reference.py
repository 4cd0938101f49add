"""Writes docs/cli/reference.md from the command line's own argument parsers.

    python docs/gen_cli_reference.py          # regenerate (after adding a command or an option)
    python docs/gen_cli_reference.py --check  # exit 1 if the committed page is out of date

Every sub-command (``saltseg.cli.build_parser()``, nested ones such as ``models install``
included) gets a section with its description, a synopsis and one table row per option with the
help that ``--help`` prints. The page is built from the parsers' actions, not from argparse's
formatted text, so it reads the same on every Python version (argparse's layout changes between
versions; the facts do not). ``Testing/Python/test_cli_reference.py`` fails when it is stale.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterator

REPOSITORY = Path(__file__).resolve().parents[1]
PAGE = REPOSITORY / "docs" / "cli" / "reference.md"
REGENERATE = "python docs/gen_cli_reference.py"

#: Markdown characters a help text may contain that would otherwise format it (or, inside a table
#: cell, end the cell); ``<`` and ``>`` would start HTML.
_ESCAPES = {"\\": "\\\\", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]", "|": "\\|",
            "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """``text`` as literal Markdown (one line)."""
    return "".join(_ESCAPES.get(char, char) for char in " ".join(text.split()))


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (for the test that compares the page with ``--help``)."""
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">")


def _sys_path() -> None:
    engine = str(REPOSITORY / "SALTSegmentation")
    if engine not in sys.path:
        sys.path.insert(0, engine)


def expanded_help(action: argparse.Action, prog: str) -> str:
    """The action's help with argparse's ``%(...)s`` fields filled in, as ``--help`` shows it."""
    params = {name: value for name, value in vars(action).items() if value is not argparse.SUPPRESS}
    params["prog"] = prog
    for name, value in list(params.items()):
        if hasattr(value, "__name__"):
            params[name] = value.__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(choice) for choice in params["choices"])
    return (action.help or "") % params


def value_name(action: argparse.Action) -> str:
    """What follows an option (``FRACTION``, ``{auto,cpu}``), or a positional's name."""
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        name = " ".join(action.metavar) if isinstance(action.metavar, tuple) else str(action.metavar)
    elif action.choices is not None:
        name = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    else:
        name = action.dest.upper() if action.option_strings else action.dest
    if action.nargs == "+":
        return f"{name} [{name} ...]"
    if action.nargs == "*":
        return f"[{name} ...]"
    if action.nargs == "?" and action.option_strings:
        return f"[{name}]"
    return name


def documented_actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """The parser's arguments as ``--help`` lists them: no help action, no hidden ones, no sub-commands."""
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        yield action


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in the order ``--help`` lists them."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def synopsis(prog: str, parser: argparse.ArgumentParser) -> str:
    words = [prog]
    if subcommands(parser):
        words.append("COMMAND" if prog == "saltseg" else "ACTION")
    optional = False
    for action in documented_actions(parser):
        if not action.option_strings:
            words.append(value_name(action))
        elif action.required:
            words.append(f"{action.option_strings[0]} {value_name(action)}".strip())
        else:
            optional = True
    if optional:
        words.insert(1, "[options]")
    return " ".join(words)


def option_cell(action: argparse.Action) -> str:
    value = value_name(action)
    if not action.option_strings:
        return f"`{value}`"
    names = ", ".join(f"`{name}`" for name in action.option_strings)
    cell = f"{names} `{value}`" if value else names
    return cell + (" (required)" if action.required else "")


def section(prog: str, summary: str, parser: argparse.ArgumentParser, depth: int) -> list[str]:
    lines = [f"{'#' * depth} `{prog}`", ""]
    text = parser.description or summary
    if text:
        lines += [escape(text), ""]
    lines += ["```", synopsis(prog, parser), "```", ""]
    actions = list(documented_actions(parser))
    if actions:
        lines += ["| argument | what it does |", "|---|---|"]
        lines += [f"| {option_cell(action)} | {escape(expanded_help(action, prog))} |" for action in actions]
        lines.append("")
    for name, help_text, sub in subcommands(parser):
        lines += section(f"{prog} {name}", help_text, sub, min(depth + 1, 4))
    return lines


def build() -> str:
    """The reference page, from ``saltseg.cli.build_parser()``."""
    _sys_path()
    from saltseg.cli import build_parser

    parser = build_parser()
    header = [
        "# Options reference",
        "",
        "Every command and option of `saltseg`, with the help that `saltseg COMMAND --help` prints. "
        "Every command also takes `-h`, `--help`, which prints this. "
        f"This page is generated from the command line's own parsers by `{REGENERATE}`; a test fails "
        "when it differs from `--help`.",
        "",
    ]
    body = section("saltseg", "", parser, 2)
    return "\n".join(header + body).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE.relative_to(REPOSITORY)} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(PAGE.relative_to(REPOSITORY))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
