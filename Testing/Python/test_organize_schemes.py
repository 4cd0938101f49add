"""The name schemes as data: complete class maps, valid files, every structure a leaf of the
organised tree, sides kept, SALT's tree inside it unchanged, SNOMED codes reversible, bad
mapping files refused with a specific message."""
from __future__ import annotations

import json
import re

import jsonschema
import pytest

from saltseg.errors import MappingError, TreeError
from saltseg.organize.codes import CodeKey, code_table, parse_terminology_entry, path_for_code
from saltseg.organize.extended_tree import UNMAPPED, builtin_paths, organised_tree
from saltseg.organize.mapping import Structure, detect_scheme, place_structures, tree_path
from saltseg.organize.schemes import SCHEME_DIR, builtin_scheme, salt_base_tree
from saltseg.tree.labeltree import LabelTree
from SALTSegmentationLib.scene.terminology import terminology_entry


def scheme_document(name: str) -> dict:
    return json.loads((SCHEME_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, schema", [("totalsegmentator", "scheme"), ("cads", "scheme"), ("snomed", "snomed")])
def test_scheme_files_follow_their_schema(name, schema):
    schema_document = json.loads((SCHEME_DIR / f"{schema}.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(scheme_document(name), schema_document)


def test_totalsegmentator_total_task_is_the_shared_class_map(shared_data):
    shared = json.loads((shared_data / "example_seg_labels.json").read_text())
    total = builtin_scheme("totalsegmentator").value_names("total")
    assert len(total) == 117
    assert total == {int(value): name for value, name in shared.items()}


def test_cads_has_167_structures_from_its_nine_part_models():
    scheme = builtin_scheme("cads")
    combined = scheme.value_names("combined")
    assert len(combined) == 167 and sorted(combined) == list(range(1, 168))
    parts = [str(task) for task in range(551, 560)]
    assert set(scheme.tasks) == set(parts) | {"combined"}
    from_parts = {name for task in parts for name in scheme.value_names(task).values()}
    assert from_parts == set(combined.values())
    assert scheme.value_names("558")[20] == "OAR_Glnd_Thyroid"


def test_organised_tree_contains_salts_tree_unchanged_and_every_structure_is_a_leaf(salt_tree):
    tree = organised_tree()
    for path in salt_tree.paths:  # every SALT node is still there, SALT's leaves still leaves
        assert tree.is_leaf(path) == salt_tree.is_leaf(path)
    for scheme_id in ("totalsegmentator", "cads", "salt"):
        for name, path in builtin_scheme(scheme_id).structures.items():
            assert tree.is_leaf(path), f"{scheme_id} {name} → {','.join(path)} is not a leaf"
    # Stored and read back like any SALT tree (single-child groups would be refused here).
    assert LabelTree.from_json(tree.to_json()) == tree
    assert set(tree.leaf_paths) == set(builtin_paths())


def _side(name: str) -> set[str]:
    words = re.split(r"[_\s-]+", name.lower())
    sides = set()
    if "left" in words or "l" in words or "al" in words or "pl" in words:
        sides.add("left")
    if "right" in words or "r" in words or "ar" in words or "pr" in words:
        sides.add("right")
    return sides


@pytest.mark.parametrize("scheme_id", ["totalsegmentator", "cads"])
def test_laterality_is_never_lost(scheme_id):
    document = scheme_document(scheme_id)
    sided = 0
    for name, path_text in document["structures"].items():
        leaf = path_text.split(",")[-1]
        sides = _side(name)
        for side, other in (("left", "right"), ("right", "left")):
            if side in sides:
                sided += 1
                assert side in leaf and other not in leaf, f"{name} → {path_text}"
        if not sides:
            assert "_left" not in leaf and "_right" not in leaf or leaf.startswith("heart_"), name
    assert sided >= 40  # kidneys, lungs, ribs, glands, eyes...


def test_salt_scheme_reads_salt_node_names_and_paths(salt_tree):
    scheme = builtin_scheme("salt")
    for path in salt_tree.leaf_paths:
        if path == ("background",):
            continue
        assert scheme.path_for(",".join(path)) == path
        if path[-1] != "other":
            assert scheme.path_for(path[-1]) == path


def test_snomed_codes_of_the_engine_and_of_slicer_files_map_back_to_the_node(salt_tree):
    table = code_table()
    checked = 0
    for path in salt_tree.leaf_paths:
        entry = terminology_entry(path)
        if entry is None:
            continue
        assert path_for_code(parse_terminology_entry(entry)) == path, entry
        checked += 1
    assert checked >= 90
    # As SlicerTotalSegmentator writes them: side in the type modifier; cysts by region.
    assert path_for_code(CodeKey("64033007", None, "left"))[-1] == "kidney_left"
    assert path_for_code(CodeKey("244849004", None, "right"))[-1] == "autochthon_right"
    assert path_for_code(CodeKey("367643001", "64033007", "left"))[-1] == "kidney_cyst_left"
    assert path_for_code(CodeKey("64033007", None, None)) is None  # no side: never guessed
    assert len(table) >= 130


def test_auto_detects_the_scheme_from_the_names():
    cads_names = list(builtin_scheme("cads").value_names("558").values())
    scheme, matched = detect_scheme(cads_names)
    assert scheme.id == "cads" and matched == len(cads_names)
    assert tree_path("OAR_OpticNrv_L")[-1] == "optic_nerve_left"
    assert tree_path("Right psoas major")[-1] == "psoas_major_right"
    assert tree_path("body,abdominal_cavity,liver") == ("body", "abdominal_cavity", "liver")
    assert tree_path("no such organ") is None


def test_unknown_structures_are_kept_under_unmapped_and_named():
    structures = [Structure(1, "liver"), Structure(2, "tumour A"), Structure(3, "tumour B")]
    placement = place_structures(structures)
    assert placement.paths[1][-1] == "liver"
    assert placement.paths[2] == (UNMAPPED, "tumour_a") and placement.paths[3] == (UNMAPPED, "tumour_b")
    assert placement.unmapped == ["tumour A", "tumour B"] and placement.matched == 1
    assert "tumour A" in placement.summary()
    single = place_structures([Structure(1, "liver"), Structure(2, "tumour")])
    assert single.paths[2] == (UNMAPPED,)
    tree = organised_tree(placement.paths.values())
    assert tree.is_leaf((UNMAPPED, "tumour_a"))


def write_mapping(tmp_path, structures, **extra):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"format": "saltseg-name-scheme", "version": 1, "structures": structures, **extra}))
    return path


def test_user_mapping_file_extends_and_overrides_the_builtins(tmp_path):
    path = write_mapping(tmp_path, {"Leber": "body,abdominal_cavity,liver",
                                    "my_lesion": "body,abdominal_cavity,liver_lesion",
                                    "spleen": "body,abdominal_cavity,accessory_spleen"}, extends="totalsegmentator")
    structures = [Structure(1, "Leber"), Structure(2, "my_lesion"), Structure(3, "spleen"), Structure(4, "kidney_left")]
    placement = place_structures(structures, str(path))
    assert placement.paths[1] == ("body", "abdominal_cavity", "liver")
    assert placement.paths[2][-1] == "liver_lesion" and placement.how[2] == "mapping file"
    assert placement.paths[3][-1] == "accessory_spleen"  # overridden
    assert placement.paths[4][-1] == "kidney_left" and placement.how[4] == "name"  # from the built-in
    tree = organised_tree(placement.paths.values())
    assert tree.is_leaf(("body", "abdominal_cavity", "liver_lesion"))


@pytest.mark.parametrize("structures, message", [
    ({"x": "body,abdominal_cavity,kidneys"}, "is a group of SALT's tree"),
    ({"x": "body,abdominal_cavity,liver,segment_1"}, "below the structure 'body,abdominal_cavity,liver'"),
    ({"x": "background"}, "cannot be mapped to the background"),
    ({"x": "body,,liver"}, "empty node name"),
])
def test_bad_mapping_targets_are_refused(tmp_path, structures, message):
    path = write_mapping(tmp_path, structures)
    with pytest.raises(MappingError, match=re.escape(message)):
        placement = place_structures([Structure(1, "x")], str(path))
        organised_tree(placement.paths.values())


def test_bad_mapping_files_are_refused(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(MappingError, match="not valid JSON"):
        place_structures([Structure(1, "x")], str(broken))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(MappingError, match="not a saltseg-name-scheme document"):
        place_structures([Structure(1, "x")], str(wrong))
    with pytest.raises(MappingError, match="unknown scheme 'nonsense'"):
        place_structures([Structure(1, "x")], "nonsense")
    lonely = write_mapping(tmp_path, {"x": "body,new_group,only_child"})
    placement = place_structures([Structure(1, "x")], str(lonely))
    with pytest.raises(TreeError, match="single child"):
        organised_tree(placement.paths.values())


def test_salt_base_tree_is_the_published_tree(salt_tree):
    assert salt_base_tree() == salt_tree
