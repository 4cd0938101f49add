"""The module's Slicer terminology file (``.term.json``), built from the engine's SNOMED CT table
(``saltseg.tree.anatomic_codes``, the one source of truth). A test keeps the shipped file equal
to :func:`terminology_document`; regenerate it with
``python -m SALTSegmentationLib.scene.terminology_file`` (run from the ``SALTSegmentation`` folder).

Format: Slicer's ``SegmentationCategoryTypeModifier-*.json`` (dcmqi segment-context schema), as
loaded by ``vtkSlicerTerminologiesModuleLogic::LoadTerminologyFromFile``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from saltseg.tree.anatomic_codes import CODES, LEFT, RIGHT, SCHEME, anatomic_code

from .terminology import ANATOMICAL_STRUCTURE, TERMINOLOGY_CONTEXT

TERMINOLOGY_FILE = Path(__file__).resolve().parents[2] / "Resources" / "SegmentationCategoryTypeModifier-SALT.term.json"
BUNDLED_TREE = Path(__file__).resolve().parents[2] / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"
SCHEMA = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/segment-context-schema.json#"


def _code(value: str, meaning: str) -> dict:
    return {"CodingSchemeDesignator": SCHEME, "CodeValue": value, "CodeMeaning": meaning}


@dataclass(frozen=True)
class _Structure:
    """A node of the published tree as the terminology offers it: its colour and readable name."""

    color: tuple[int, int, int]  # 0-255, the colour the engine gives the segment
    label: str


def _structures() -> dict[tuple[str, Optional[tuple[str, str]]], _Structure]:
    """(code value, side) → the published SALT tree's node using that code (``kidney_left`` →
    Kidney: Left). Only those sides are offered, so the selector never proposes a left middle
    lobe of the lung; the colours are the engine's (``saltseg.tree.colors``), so choosing a SALT
    type in Slicer's terminology selector gives a segment the colour a SALT result has."""
    from saltseg.tree.colors import node_colors, to_rgb255
    from saltseg.tree.labeltree import LabelTree

    tree = LabelTree.from_tree_labels_file(BUNDLED_TREE)
    colors = node_colors(tree)
    structures = {}
    for node in range(len(tree)):
        code = anatomic_code(tree.path(node))
        if code is not None:
            structures[(code.value, code.laterality)] = _Structure(to_rgb255(colors[node]), tree.display_name(node))
    return structures


def _with_structure(entry: dict, structure: Optional[_Structure]) -> dict:
    if structure is not None:
        entry["recommendedDisplayRGBValue"] = list(structure.color)
        entry["3dSlicerLabel"] = structure.label
    return entry


def terminology_document() -> dict:
    structures = _structures()
    types = []
    for _name, (value, meaning) in sorted(CODES.items(), key=lambda item: item[1][1].lower()):
        sides = [side for side in (RIGHT, LEFT) if (value, side) in structures]
        if sides:
            # The type itself takes its first side's colour (a segment typed before its side is
            # chosen is not grey); each side carries its own colour and name.
            entry = _code(value, meaning)
            entry["recommendedDisplayRGBValue"] = list(structures[(value, sides[0])].color)
            entry["Modifier"] = [_with_structure(_code(*side), structures[(value, side)]) for side in sides]
        else:
            entry = _with_structure(_code(value, meaning), structures.get((value, None)))
        types.append(entry)
    category_scheme, category_value, category_meaning = ANATOMICAL_STRUCTURE.split("^")
    category = {"CodingSchemeDesignator": category_scheme, "CodeValue": category_value,
                "CodeMeaning": category_meaning, "showAnatomy": False, "Type": types}
    return {"SegmentationCategoryTypeContextName": TERMINOLOGY_CONTEXT, "@schema": SCHEMA,
            "SegmentationCodes": {"Category": [category]}}


def terminology_text() -> str:
    return json.dumps(terminology_document(), indent=2) + "\n"


if __name__ == "__main__":
    TERMINOLOGY_FILE.write_text(terminology_text(), encoding="utf-8")
    print(TERMINOLOGY_FILE)
