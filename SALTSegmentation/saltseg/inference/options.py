"""The options of one segmentation run, each declared once: name, type, default, allowed values, help.

:class:`SegmentOptions` is the declaration. Its fields carry their help text and their allowed
values (``metadata["option"]``), and every front end derives from them instead of repeating them:
the command line's flags (``--skip-air`` for ``skip_air``, :mod:`saltseg.cli.segment_options`),
the engine service's request check and its published JSON Schema
(:mod:`saltseg.service.request_schema`), and the Slicer module's parameter node and console
keywords. Every way of making options (Python, parsed flags, a request, a scene) goes through
:meth:`SegmentOptions.__post_init__`, so a value the engine cannot take (NaN, an overlap of 1, an
unknown runtime) is refused by the same words everywhere.

This module imports no torch: the Slicer module reads it inside Slicer's own process.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..errors import OptionError
from ..model.run_defaults import WINDOW_PLACEMENTS
from .backends import BACKEND_CHOICES, PRECISION_CHOICES

#: ``--fast``'s window overlap: about 3× fewer windows than SALT's 0.5 (63 → 20 measured on a
#: 330×330×192 scan at 1.5 mm).
FAST_OVERLAP = 0.25
#: HU below which a voxel counts as air for window skipping (``skip_air``): air is about -1000 HU
#: and its noise stays well below this, while the emptiest tissue (lung parenchyma, -900 to -700 HU)
#: never fills a whole window without skin, fat or vessels around it.
AIR_SKIP_HU = -900.0


@dataclass(frozen=True)
class OptionRule:
    """What a field allows beyond its type, and the help text every front end shows."""

    help: str
    choices: tuple[str, ...] = ()
    minimum: Optional[float] = None
    #: Exclusive upper bound.
    below: Optional[float] = None
    metavar: Optional[str] = None

    def describe(self) -> str:
        """``in [0, 1)``, ``at least 1``, ``one of a, b``; empty when any value of the type goes."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.minimum is not None and self.below is not None:
            return f"in [{self.minimum:g}, {self.below:g})"
        if self.minimum is not None:
            return f"at least {self.minimum:g}"
        return ""


def _option(default: Any, help: str, **rule: Any) -> Any:
    return field(default=default, metadata={"option": OptionRule(help, **rule)})


@dataclass
class SegmentOptions:
    """How to segment. The defaults reproduce SALT's own pipeline (its windows, its blending);
    everything faster that changes labels is opt-in (:meth:`fast`, ``skip_air``)."""

    overlap: float = _option(0.5, "sliding-window overlap (0.5 as SALT; the --fast preset's is "
                                  f"{FAST_OVERLAP})", minimum=0.0, below=1.0, metavar="FRACTION")
    batch_size: int = _option(2, "windows per forward pass on a GPU (the CPU runs them one at a time)",
                              minimum=1, metavar="N")
    largest_component: bool = _option(True, "keep only the largest connected body component (off: keep "
                                            "every component)")
    mixed_precision: bool = _option(True, "float16 autocast on CUDA (off: float32 on the GPU too)")
    host_memory_limit: Optional[int] = _option(None, "RAM (bytes) the pre-flight memory check assumes "
                                                     "free, instead of the measured amount", minimum=1,
                                               metavar="BYTES")
    device_memory_limit: Optional[int] = _option(None, "GPU memory (bytes) the pre-flight memory check "
                                                       "assumes free, instead of the measured amount",
                                                 minimum=1, metavar="BYTES")
    window_placement: Optional[str] = _option(
        None, "salt: SALT's own windows, so labels are SALT's; flush: no invented air padding along the "
              "long axis (last window flush with the scan's end); unset: the placement the model was "
              "certified with (its inference.json; salt for SALT's models)", choices=WINDOW_PLACEMENTS)
    skip_air: bool = _option(False, f"skip windows in which every voxel is below the air threshold "
                                    f"({AIR_SKIP_HU:.0f} HU by default) and label them background (on "
                                    "with --fast)")
    air_threshold_hu: float = _option(AIR_SKIP_HU, "the air threshold of skip_air, in HU", metavar="HU")
    backend: str = _option("auto", "network runtime: auto uses OpenVINO on the CPU when installed (pip "
                                   "install \"saltseg[openvino]\"; checked against torch on the first "
                                   "window, torch if it disagrees), else torch", choices=BACKEND_CHOICES)
    precision: str = _option("auto", "network arithmetic on the CPU (both runtimes): auto runs bf16 (the network "
                                     "about 2x faster) where the CPU computes it natively (AVX512_BF16 or "
                                     "AMX) and the run's probe window agrees with float32 (>= 99.5 % of leaf "
                                     "labels), float32 elsewhere; fp32 forces float32 (SALT's labels to the "
                                     "voxel); bf16 asks for it on any CPU (still checked). GPUs keep their own "
                                     "arithmetic",
                             choices=PRECISION_CHOICES)
    whole_model: bool = _option(False, "run model.pt whole, tree softmax included, instead of taking the "
                                       "network's logits from it (slower; for checking)")
    only: tuple[str, ...] = _option((), "keep only these structures' subtrees in the outputs: tree paths "
                                        "(body,bones,spine) or names (spine, kidney_left, 'Lumbar spine'). "
                                        "The network still runs over the whole scan", metavar="NODE")

    def __post_init__(self) -> None:
        for spec in option_specs():
            setattr(self, spec.name, spec.check(getattr(self, spec.name)))

    @classmethod
    def fast(cls, **changes: Any) -> "SegmentOptions":
        """The documented speed preset: overlap 0.25 and air windows skipped."""
        return cls(**{**FAST_PRESET, **changes})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], fast: bool = False) -> "SegmentOptions":
        """Options from a mapping of option names (a request, console keywords, a scene); a name the
        engine does not have is an :class:`OptionError` listing the names it has."""
        unknown = sorted(set(values) - {spec.name for spec in option_specs()})
        if unknown:
            known = ", ".join(spec.name for spec in option_specs())
            raise OptionError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                              f"the engine takes {known}")
        return cls.fast(**values) if fast else cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """JSON-ready values by option name (tuples as lists)."""
        return {spec.name: list(value) if isinstance(value, tuple) else value
                for spec in option_specs() for value in [getattr(self, spec.name)]}


#: The ``--fast`` preset: what it changes.
FAST_PRESET = {"overlap": FAST_OVERLAP, "skip_air": True}
FAST_HELP = (f"speed preset: window overlap {FAST_OVERLAP} instead of 0.5 and windows holding only air "
             "are skipped (about 3x fewer windows; labels no longer identical to SALT's)")


@dataclass(frozen=True)
class OptionSpec:
    """One option as the front ends see it: its name, its JSON-level type, and its rule."""

    name: str
    kind: type  # bool, int, float, str, or tuple (a list of strings)
    nullable: bool
    default: Any
    rule: OptionRule

    @property
    def help(self) -> str:
        return self.rule.help

    def expected(self) -> str:
        text = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string",
                tuple: "a list of strings"}[self.kind]
        allowed = self.rule.describe()
        text = f"{text} {allowed}" if allowed and self.kind is not str else (allowed or text)
        return f"{text} or null" if self.nullable else text

    def check(self, value: Any) -> Any:
        """``value`` as the engine keeps it (a list becomes a tuple, a whole float stays a float), or
        an :class:`OptionError` that names the option, what it takes, and what it got."""
        if value is None and self.nullable:
            return None
        if not self._fits(value):
            raise self._error(value)
        if self.kind is tuple:
            return tuple(value)
        if self.kind is float:
            value = float(value)
        rule = self.rule
        if rule.choices and value not in rule.choices:
            raise self._error(value)
        if rule.minimum is not None and value < rule.minimum:
            raise self._error(value)
        if rule.below is not None and value >= rule.below:
            raise self._error(value)
        return value

    def _fits(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind is int:
            return isinstance(value, int)
        if self.kind is float:
            return isinstance(value, (int, float)) and math.isfinite(value)
        if self.kind is tuple:
            return isinstance(value, (list, tuple)) and all(isinstance(item, str) and item.strip() for item in value)
        return isinstance(value, self.kind)

    def _error(self, value: Any) -> OptionError:
        shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
        return OptionError(f"option {self.name!r} must be {self.expected()}, got {shown}")


def _spec(item: dataclasses.Field, hint: Any) -> OptionSpec:
    nullable = typing.get_origin(hint) is typing.Union and type(None) in typing.get_args(hint)
    if nullable:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    kind = tuple if typing.get_origin(hint) is tuple else hint
    return OptionSpec(item.name, kind, nullable, item.default, item.metadata["option"])


_SPECS: list[OptionSpec] = []


def option_specs() -> list[OptionSpec]:
    """Every run option, in declaration order."""
    if not _SPECS:
        hints = typing.get_type_hints(SegmentOptions)
        _SPECS.extend(_spec(item, hints[item.name]) for item in dataclasses.fields(SegmentOptions))
    return _SPECS


def option_spec(name: str) -> OptionSpec:
    for spec in option_specs():
        if spec.name == name:
            return spec
    raise KeyError(name)
