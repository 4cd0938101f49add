"""Structures (names, optionally SNOMED CT codes) → tree paths: the function API.

``tree_path("kidney_left")`` answers one name; :func:`place_structures` places a whole
segmentation's structures, recognising the scheme (``auto``) from the fraction of names it knows,
and reports what it could not place instead of dropping it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from ..errors import MappingError
from ..tree.labeltree import NodePath
from .codes import CodeKey, path_for_code
from .extended_tree import UNMAPPED, builtin_paths, check_leaf_paths, is_salt_node, unmapped_paths
from .schemes import BUILTIN_SCHEMES, NameScheme, builtin_scheme, load_scheme_file

logger = logging.getLogger(__name__)

SchemeSpec = Union[str, Path, NameScheme]
SNOMED = "snomed"
#: The source a placement names for structures placed by the tree paths they carry (SALT's own tags).
OWN_TAGS = "salt-tags"
#: Model id of structures placed by organising (``organized:<scheme>``): where they came from.
MODEL_ID_PREFIX = "organized:"


@dataclass(frozen=True)
class Structure:
    """One input structure: its name and, where it carries one, its terminology code."""

    key: object  # label value or segment ID: how the caller finds it again
    name: str
    code: Optional[CodeKey] = None
    #: A tree path the structure already carries (a segment organised before): it is kept.
    path: Optional[NodePath] = None


@dataclass
class Placement:
    """The result of placing a segmentation's structures."""

    scheme: str  # the scheme used (auto: the one recognised)
    matched: int  # structures the scheme (or the codes) placed
    total: int
    paths: dict = field(default_factory=dict)  # structure key → tree path (unmapped ones included)
    how: dict = field(default_factory=dict)  # structure key → "name", "code", "mapping file", "tag" or "unmapped"
    unmapped: list = field(default_factory=list)  # names of the structures under `unmapped`

    @property
    def fraction(self) -> float:
        return self.matched / self.total if self.total else 1.0

    def summary(self) -> str:
        text = f"scheme {self.scheme}: {self.matched}/{self.total} structures placed ({self.fraction:.0%})"
        if self.unmapped:
            text += f"; under 'unmapped': {', '.join(self.unmapped)}"
        return text

    def new_node_count(self) -> tuple[int, int]:
        """(structures on nodes of SALT's published tree, structures on nodes the tree gained)."""
        placed = [path for key, path in self.paths.items() if self.how[key] != "unmapped"]
        existing = sum(1 for path in placed if is_salt_node(path))
        return existing, len(placed) - existing


def resolve_scheme(scheme: SchemeSpec) -> tuple[Optional[NameScheme], Optional[NameScheme]]:
    """(user mapping or None, built-in scheme or None for auto)."""
    if isinstance(scheme, NameScheme):
        return (None, scheme) if scheme.id in BUILTIN_SCHEMES else (scheme, _extends(scheme))
    text = str(scheme)
    if text == "auto":
        return None, None
    if text in BUILTIN_SCHEMES:
        return None, builtin_scheme(text)
    if text == SNOMED:
        return None, None
    path = Path(text)
    if not path.is_file():
        raise MappingError(f"unknown scheme {text!r}: use auto, {', '.join(BUILTIN_SCHEMES)}, snomed, or a "
                           "mapping file (JSON)")
    user = load_scheme_file(path)
    return user, _extends(user)


def _extends(user: NameScheme) -> Optional[NameScheme]:
    return builtin_scheme(user.extends) if user.extends else None


def detect_scheme(names: Sequence[str]) -> tuple[NameScheme, int]:
    """The built-in scheme that knows the most of ``names`` (ties: the order of BUILTIN_SCHEMES)."""
    best, best_count = builtin_scheme(BUILTIN_SCHEMES[0]), -1
    for scheme_id in BUILTIN_SCHEMES:
        scheme = builtin_scheme(scheme_id)
        count = sum(1 for name in names if scheme.path_for(name) is not None)
        if count > best_count:
            best, best_count = scheme, count
    return best, best_count


def tree_path(name: Optional[str] = None, code: Optional[CodeKey] = None,
              scheme: SchemeSpec = "auto") -> Optional[NodePath]:
    """The organised tree's path for one structure (by code first, then by name), or None."""
    user, chosen = resolve_scheme(scheme)
    if code is not None and str(scheme) in ("auto", SNOMED):
        found = path_for_code(code)
        if found is not None:
            return found
    if name is None:
        return None
    if user is not None and user.path_for(name) is not None:
        return user.path_for(name)
    candidates = [chosen] if chosen is not None else [builtin_scheme(s) for s in BUILTIN_SCHEMES]
    for candidate in candidates:
        found = candidate.path_for(name)
        if found is not None:
            return found
    return None


def _tagged(structure: Structure) -> bool:
    """True when the structure carries a tree path to keep (one under ``unmapped`` is tried again)."""
    return structure.path is not None and structure.path[0] != UNMAPPED


def place_structures(structures: Sequence[Structure], scheme: SchemeSpec = "auto") -> Placement:
    """Place every structure; those no source knows go under ``unmapped`` (named in the result)."""
    user, chosen = resolve_scheme(scheme)
    use_codes = str(scheme) in ("auto", SNOMED) if not isinstance(scheme, NameScheme) else False
    # A structure's own tree path is what its writer stated, so only the others are guessed at:
    # the scheme is recognised from their names alone.
    untagged = [s for s in structures if not _tagged(s)]
    names = [s.name for s in untagged]
    if chosen is None and str(scheme) != SNOMED:
        unknown_to_user = [n for n in names if user is None or user.path_for(n) is None]
        chosen, _ = detect_scheme(unknown_to_user or names)
    scheme_name = user.id if user is not None else (chosen.id if chosen is not None else SNOMED)
    if use_codes and any(s.code is not None for s in untagged):
        coded = sum(1 for s in untagged if s.code is not None and path_for_code(s.code) is not None)
        by_name = sum(1 for s in untagged if chosen is not None and chosen.path_for(s.name) is not None)
        if str(scheme) == SNOMED or coded >= by_name:
            scheme_name = SNOMED if user is None else f"{user.id} + {SNOMED}"
        else:
            use_codes = False  # the names tell more than the codes (e.g. generic "Anatomical structure")
    if structures and not untagged:
        scheme_name = OWN_TAGS
    elif len(untagged) < len(structures):
        scheme_name = f"{OWN_TAGS} + {scheme_name}"
    placement = Placement(scheme_name, 0, len(structures))
    lost: list[Structure] = []
    for structure in structures:
        path, how = None, None
        if structure.path is not None and _tagged(structure):
            path, how = tuple(structure.path), "tag"
        elif user is not None and (user_path := user.path_for(structure.name)) is not None:
            path, how = user_path, "mapping file"
            check_leaf_paths([user_path], builtin_paths())
        elif use_codes and structure.code is not None and path_for_code(structure.code) is not None:
            path, how = path_for_code(structure.code), "code"
        elif chosen is not None and chosen.path_for(structure.name) is not None:
            path, how = chosen.path_for(structure.name), "name"
        if path is None:
            lost.append(structure)
            continue
        placement.paths[structure.key] = path
        placement.how[structure.key] = how
        placement.matched += 1
    if lost:
        where = unmapped_paths([s.name for s in lost])
        for structure in lost:
            placement.paths[structure.key] = where[structure.name]
            placement.how[structure.key] = "unmapped"
        placement.unmapped = list(dict.fromkeys(s.name for s in lost))
        logger.warning("could not place %d structure(s), kept under 'unmapped': %s", len(lost),
                       ", ".join(placement.unmapped))
    return placement


def check_sides(placement: Placement, structures: Sequence[Structure]) -> None:
    """Never lose laterality: a structure whose name says left must not land on a right node."""
    for structure in structures:
        path = placement.paths.get(structure.key)
        if path is None or placement.how.get(structure.key) == "unmapped":
            continue
        words = set(path[-1].split("_"))
        name_words = set(structure.name.lower().replace("-", "_").replace(" ", "_").split("_"))
        for side, other in (("left", "right"), ("right", "left")):
            if side in name_words and other in words:
                raise MappingError(f"{structure.name!r} would be placed on {','.join(path)!r}: the side is lost")


def merge_placements(placements: Mapping[object, NodePath]) -> dict[NodePath, list[object]]:
    """Tree path → the structure keys placed on it (a user mapping may put several on one leaf)."""
    merged: dict[NodePath, list[object]] = {}
    for key, path in placements.items():
        merged.setdefault(path, []).append(key)
    return merged
