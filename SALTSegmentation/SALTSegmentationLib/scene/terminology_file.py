"""The module's Slicer terminology file (``.term.json``), built from the engine's SNOMED CT table
(``saltseg.tree.anatomic_codes``, the one source of truth). A test keeps the shipped file equal
to :func:`terminology_document`; regenerate it with
``python -m SALTSegmentationLib.scene.terminology_file`` (run from the ``SALTSegmentation`` folder).

Format: Slicer's ``SegmentationCategoryTypeModifier-*.json`` (dcmqi segment-context schema), as
loaded by ``vtkSlicerTerminologiesModuleLogic::LoadTerminologyFromFile``.
"""
from __future__ import annotations

import json
from pathlib import Path

from saltseg.tree.anatomic_codes import CODES, LEFT, RIGHT, SCHEME, anatomic_code

from .terminology import ANATOMICAL_STRUCTURE, TERMINOLOGY_CONTEXT

TERMINOLOGY_FILE = Path(__file__).resolve().parents[2] / "Resources" / "SegmentationCategoryTypeModifier-SALT.term.json"
BUNDLED_TREE = Path(__file__).resolve().parents[2] / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"
SCHEMA = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/segment-context-schema.json#"


def _code(value: str, meaning: str) -> dict:
    return {"CodingSchemeDesignator": SCHEME, "CodeValue": value, "CodeMeaning": meaning}


def _sides_used() -> dict[str, set[tuple[str, str]]]:
    """Code value → the sides the published SALT tree uses it with (``kidney_left`` → Kidney: Left).

    Only those sides are offered, so the selector never proposes a left middle lobe of the lung.
    """
    from saltseg.tree.labeltree import LabelTree

    tree = LabelTree.from_tree_labels_file(BUNDLED_TREE)
    sides: dict[str, set[tuple[str, str]]] = {}
    for node in range(len(tree)):
        code = anatomic_code(tree.path(node))
        if code is not None and code.laterality is not None:
            sides.setdefault(code.value, set()).add(code.laterality)
    return sides


def terminology_document() -> dict:
    sides = _sides_used()
    types = []
    for name, (value, meaning) in sorted(CODES.items(), key=lambda item: item[1][1].lower()):
        entry = _code(value, meaning)
        if value in sides:
            entry["Modifier"] = [_code(*side) for side in (RIGHT, LEFT) if side in sides[value]]
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
