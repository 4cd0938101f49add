"""The run options as command-line flags, derived from :class:`SegmentOptions`' declaration.

``saltseg segment`` and ``saltseg batch`` call::

    add_segment_options(parser)                 # --device, --fast, and one flag per run option
    options = segment_options_from_args(args)   # -> saltseg.inference.options.SegmentOptions

Each option's flag is its name with dashes (``skip_air`` ⇔ ``--skip-air``; a true/false option
also has ``--no-...``), its help and allowed values are the declaration's, and a bad value is
refused with the engine's own message. Options the parser already defines (a sub-command with its
own ``--device``, say) are left alone, so the helper never raises "conflicting option string".
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

from ..devices import DEVICE_CHOICES
from ..inference.options import FAST_HELP, OptionSpec, SegmentOptions, option_specs


def flag(name: str) -> str:
    """The command-line flag of a run option (``skip_air`` → ``--skip-air``)."""
    return "--" + name.replace("_", "-")


def _parser_of(spec: OptionSpec) -> Callable[[str], Any]:
    """argparse ``type=``: text → the option's value, checked by the option's own rule."""

    def parse(text: str) -> Any:
        try:
            return spec.check(spec.kind(text) if spec.kind in (int, float) else text)
        except ValueError:  # not a number, or the rule's OptionError (a ValueError too)
            raise argparse.ArgumentTypeError(f"{flag(spec.name)} must be {spec.expected()}, got {text!r}") from None

    parse.__name__ = spec.kind.__name__  # argparse names the type in its own messages
    return parse


def _add(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    if any(name in parser._option_string_actions for name in flags):  # the sub-command's own wins
        return
    parser.add_argument(*flags, **kwargs)


def add_segment_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that control how a CT is segmented (not what is read or written)."""
    _add(parser, "--device", default="auto", choices=DEVICE_CHOICES,
         help="compute device (auto: CUDA, then Apple MPS, then CPU)")
    _add(parser, "--fast", action="store_true", help=FAST_HELP)
    for spec in option_specs():
        default_text = "" if spec.default in (None, ()) else f" (default: {_shown(spec.default)})"
        if spec.kind is bool:
            _add(parser, flag(spec.name), action=argparse.BooleanOptionalAction, default=None,
                 help=_escaped(spec.help) + default_text)
        elif spec.kind is tuple:
            _add(parser, flag(spec.name), action="append", default=None, metavar=spec.rule.metavar,
                 help=_escaped(spec.help) + "; repeatable")
        else:
            _add(parser, flag(spec.name), default=None, choices=spec.rule.choices or None,
                 metavar=None if spec.rule.choices else spec.rule.metavar, type=_parser_of(spec),
                 help=_escaped(spec.help) + default_text)


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts


def _shown(value: Any) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def segment_options_from_args(args: argparse.Namespace) -> SegmentOptions:
    """The :class:`SegmentOptions` the parsed command line asks for: ``--fast``'s preset, then the
    options given explicitly on top of it."""
    given = {spec.name: getattr(args, spec.name) for spec in option_specs()
             if getattr(args, spec.name, None) is not None}
    return SegmentOptions.from_mapping(given, fast=bool(getattr(args, "fast", False)))
