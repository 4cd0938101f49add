"""The shipped Slicer terminology file against authorities, not the project's own table: valid
against the schema it declares in ``@schema`` (dcmqi's, kept in data/dcmqi-schemas), and its codes
spot-checked against Slicer's DICOM master terminology."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

REPO = Path(__file__).resolve().parents[2]
TERMINOLOGY = REPO / "SALTSegmentation" / "Resources" / "SegmentationCategoryTypeModifier-SALT.term.json"
SCHEMAS = Path(__file__).resolve().parent / "data" / "dcmqi-schemas"
#: where Slicer's terminology files (and this one) say their schema is; the file now lives in
#: doc/schemas/, whose id the referenced schemas use
DECLARED_SCHEMA = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/segment-context-schema.json#"

# Facts from Slicer's DICOM master list (Slicer/Slicer, Modules/Loadable/Terminologies/Resources/
# SegmentationCategoryTypeModifier-DICOM-Master.json, commit 583e9b37): SNOMED CT code → meaning.
SLICER_MASTER_TYPES = {
    "10200004": "Liver", "78961009": "Spleen", "64033007": "Kidney", "23451007": "Adrenal gland",
    "15776009": "Pancreas", "69695003": "Stomach", "28231008": "Gallbladder", "38848004": "Duodenum",
    "71854001": "Colon", "7832008": "Abdominal aorta", "2748008": "Spinal cord", "54735007": "Sacrum",
    "71341001": "Femur", "87878005": "Left ventricle", "45653009": "Upper lobe of lung",
}
SLICER_MASTER_CATEGORY = ("SCT", "123037004", "Anatomical Structure")
SLICER_MASTER_MODIFIERS = {"7771000": "Left", "24028007": "Right"}
#: types that carry a side in Slicer's master list (their entries there list Left/Right modifiers)
PAIRED = {"64033007", "23451007", "71341001", "45653009"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(TERMINOLOGY.read_text(encoding="utf-8"))


def test_terminology_file_is_valid_against_its_declared_schema(document):
    assert document["@schema"] == DECLARED_SCHEMA
    schemas = {path.name: json.loads(path.read_text()) for path in SCHEMAS.glob("*.json")}
    resources = [(schema["id"], referencing.Resource.from_contents(schema, referencing.jsonschema.DRAFT4))
                 for schema in schemas.values()]
    main = schemas["segment-context-schema.json"]
    resources.append((DECLARED_SCHEMA, referencing.Resource.from_contents(main, referencing.jsonschema.DRAFT4)))
    validator = jsonschema.Draft4Validator(main, registry=referencing.Registry().with_resources(resources))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    # The validator really checks the nested definitions (a misspelt key must fail).
    broken = json.loads(json.dumps(document))
    broken["SegmentationCodes"]["Category"][0]["Type"][0]["CodeMeening"] = "typo"
    assert any("CodeMeening" in e.message for e in validator.iter_errors(broken))


def test_codes_agree_with_slicers_dicom_master_terminology(document):
    categories = document["SegmentationCodes"]["Category"]
    by_code = {}
    for category in categories:
        assert ((category["CodingSchemeDesignator"], category["CodeValue"], category["CodeMeaning"])
                == SLICER_MASTER_CATEGORY)
        for entry in category["Type"]:
            by_code[(entry["CodingSchemeDesignator"], entry["CodeValue"])] = entry
    for code, meaning in SLICER_MASTER_TYPES.items():
        entry = by_code.get(("SCT", code))
        assert entry is not None, f"SCT {code} ({meaning}) is missing"
        assert entry["CodeMeaning"] == meaning, code
    for code in PAIRED:
        modifiers = {(m["CodingSchemeDesignator"], m["CodeValue"]): m["CodeMeaning"]
                     for m in by_code[("SCT", code)]["Modifier"]}
        assert modifiers == {("SCT", c): m for c, m in SLICER_MASTER_MODIFIERS.items()}, code
