"""Structure names as schemes write them, reduced to one comparable form."""
from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_name(name: str) -> str:
    """``"Right psoas major"``, ``right-psoas_major`` → ``right_psoas_major`` (case, spaces and
    punctuation do not matter when names are compared)."""
    return _NON_WORD.sub("_", str(name).strip().lower()).strip("_")


def slug(name: str) -> str:
    """A tree node name for an unmapped structure: never empty, never a comma."""
    return normalise_name(name) or "unnamed"
