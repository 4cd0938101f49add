"""The module's Slicer terminology file (``.term.json``), built from the engine's SNOMED CT table
(``saltseg.tree.anatomic_codes``, the one source of truth). A test keeps the shipped file equal
to :func:`terminology_document`; regenerate it with
``python -m SALTSegmentationLib.terminology_file`` (run from the ``SALTSegmentation`` folder).

Format: Slicer's ``SegmentationCategoryTypeModifier-*.json`` (dcmqi segment-context schema), as
loaded by ``vtkSlicerTerminologiesModuleLogic::LoadTerminologyFromFile``.
"""
from __future__ import annotations

import json
from pathlib import Path

from saltseg.tree.anatomic_codes import CODES, LEFT, RIGHT, SCHEME, anatomic_code

from .terminology import ANATOMICAL_STRUCTURE, TERMINOLOGY_CONTEXT

TERMINOLOGY_FILE = Path(__file__).resolve().parents[1] / "Resources" / "SegmentationCategoryTypeModifier-SALT.term.json"
BUNDLED_TREE = Path(__file__).resolve().parents[1] / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"
SCHEMA = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/segment-context-schema.json#"


def _code(value: str, meaning: str) -> dict:
    return {"CodingSchemeDesignator": SCHEME, "CodeValue": value, "CodeMeaning": meaning}


def _paired_codes() -> set[str]:
    """Codes the published SALT tree uses with a side (``kidney_left`` → Kidney)."""
    from saltseg.tree.labeltree import LabelTree

    tree = LabelTree.from_tree_labels_file(BUNDLED_TREE)
    codes = (anatomic_code(tree.path(node)) for node in range(len(tree)))
    return {code.value for code in codes if code is not None and code.laterality is not None}


def terminology_document() -> dict:
    paired = _paired_codes()
    types = []
    for name, (value, meaning) in sorted(CODES.items(), key=lambda item: item[1][1].lower()):
        entry = _code(value, meaning)
        if value in paired:
            entry["Modifier"] = [_code(*RIGHT), _code(*LEFT)]
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
