"""The shared TotalSegmentator v2 segmentation organised into the label tree: every structure
placed with its voxels unchanged, sides kept, internal nodes the sum of their leaves; the same
structures as a CADS-valued labelmap, as a folder of masks and through ``saltseg organize``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from saltseg.batch.volumes import node_volumes
from saltseg.cli import main
from saltseg.errors import InputImageError, MappingError
from saltseg.io.writers import HEADER_TREE, TAG_TREE_PATH
from saltseg.organize.extended_tree import organised_tree
from saltseg.organize.labelmap import organise_labelmap
from saltseg.organize.mapping import Structure, place_structures
from saltseg.organize.organize_file import organise_file, organise_input
from saltseg.organize.schemes import builtin_scheme
from saltseg.tree.labeltree import LabelTree


@pytest.fixture(scope="module")
def ts_seg(shared_data):
    image = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    names = {int(v): n for v, n in json.loads((shared_data / "example_seg_labels.json").read_text()).items()}
    return image, names


@pytest.fixture(scope="module")
def organised(ts_seg):
    image, names = ts_seg
    return organise_labelmap(image, names)


def test_all_117_totalsegmentator_names_are_placed(ts_seg):
    _, names = ts_seg
    placement = place_structures([Structure(value, name) for value, name in names.items()])
    assert placement.scheme == "totalsegmentator" and placement.unmapped == []
    assert placement.matched == placement.total == 117
    assert len(set(placement.paths.values())) == 117  # no two structures merged
    existing, new = placement.new_node_count()
    assert (existing, new) == (94, 23)


def test_every_structure_keeps_its_voxels_on_its_own_leaf(ts_seg, organised):
    image, names = ts_seg
    source = sitk.GetArrayViewFromImage(image)
    result = sitk.GetArrayViewFromImage(organised.labelmap)
    present = [int(v) for v in np.unique(source) if v]
    assert len(present) == 41 and organised.placement.matched == 41
    tree = organised.tree
    for value in present:
        leaf = tree.leaf_for_value(organised.values[value])
        assert tree.path(leaf)[-1] == names[value]  # the scheme keeps TotalSegmentator's names
        assert np.array_equal(source == value, result == organised.values[value]), names[value]
    assert np.array_equal(source == 0, result == tree.background_value)
    assert organised.labelmap.GetOrigin() == image.GetOrigin()
    assert organised.labelmap.GetDirection() == image.GetDirection()


def _centroid_x(image: sitk.Image, mask: np.ndarray) -> float:
    k, j, i = np.nonzero(mask)
    return image.TransformContinuousIndexToPhysicalPoint((float(i.mean()), float(j.mean()), float(k.mean())))[0]


def test_kidney_and_lung_sides_are_kept(ts_seg, organised):
    image, _ = ts_seg
    tree, labels = organised.tree, sitk.GetArrayViewFromImage(organised.labelmap)

    def mask(node: str) -> np.ndarray:
        return np.isin(labels, tree.subtree_label_values(node))

    # LPS: +x points to the patient's left.
    left_kidney = mask("body,abdominal_cavity,kidneys,kidney_left")
    right_kidney = mask("body,abdominal_cavity,kidneys,kidney_right")
    assert left_kidney.any() and right_kidney.any()
    assert _centroid_x(image, left_kidney) > _centroid_x(image, right_kidney) + 50
    left_lung, right_lung = mask("body,thoracic_cavity,lungs,lung_left"), mask("body,thoracic_cavity,lungs,lung_right")
    assert left_lung.any() and right_lung.any()
    assert _centroid_x(image, left_lung) > _centroid_x(image, right_lung) + 50


def test_internal_node_volumes_are_the_sum_of_their_leaves(ts_seg, organised):
    image, names = ts_seg
    tree = organised.tree
    rows = {row.node: row for row in node_volumes("case", organised.labelmap, tree)}
    for node in range(len(tree)):
        children = tree.children(node)
        if children and tree.node_id(node) in rows:
            assert rows[tree.node_id(node)].voxels == sum(rows[tree.node_id(c)].voxels for c in children)
    source = sitk.GetArrayViewFromImage(image)
    lobes = [v for v, n in names.items() if n.startswith("lung_")]
    assert rows["body,thoracic_cavity,lungs"].voxels == int(np.isin(source, lobes).sum()) > 0
    ribs = [v for v, n in names.items() if n.startswith("rib_")]
    assert rows["body,bones,rib_cage"].voxels >= int(np.isin(source, ribs).sum()) > 0
    assert rows["body"].voxels == int((source > 0).sum())


def test_cads_valued_labelmap_gives_the_same_tree(ts_seg, organised, tmp_path):
    image, names = ts_seg
    ts, cads = builtin_scheme("totalsegmentator"), builtin_scheme("cads")
    cads_value = {ts.path_for(name): value for value, name in cads.value_names("combined").items()}
    # CADS's combined map uses its own names and values; remap every structure CADS also has.
    source = sitk.GetArrayFromImage(image)
    remapped = np.zeros_like(source)
    kept = []
    for value, name in names.items():
        path = ts.path_for(name)
        target = next((v for v, n in cads.value_names("combined").items() if cads.path_for(n) == path), None)
        if target is not None and (source == value).any():
            remapped[source == value] = target
            kept.append(value)
    assert len(kept) >= 35 and cads_value  # the few TotalSegmentator-only structures are left out
    cads_image = sitk.GetImageFromArray(remapped)
    cads_image.CopyInformation(image)
    path = tmp_path / "cads_combined.nii.gz"
    sitk.WriteImage(cads_image, str(path))

    # CADS's part models write <case>_part_551.nii.gz: recognised from the name, no flags needed.
    organs = cads.value_names("551")
    part = np.zeros_like(source)
    for value, name in organs.items():
        part[remapped == next(v for v, n in cads.value_names("combined").items() if n == name)] = value
    part_image = sitk.GetImageFromArray(part)
    part_image.CopyInformation(image)
    sitk.WriteImage(part_image, str(tmp_path / "case_part_551.nii.gz"))
    from_part = organise_input(tmp_path / "case_part_551.nii.gz")
    assert from_part.placement.scheme == "cads" and not from_part.placement.unmapped
    organ_paths = {cads.path_for(name) for name in organs.values()}
    assert {organised.tree.path(p) for p in from_part.placement.paths.values()} <= organ_paths
    assert from_part.placement.matched == len(np.unique(part)) - 1 >= 12

    from_cads = organise_input(path, scheme="cads")  # no name table: CADS's own value map
    assert from_cads.placement.scheme == "cads" and not from_cads.placement.unmapped
    assert from_cads.tree == organised.tree
    reference = sitk.GetArrayViewFromImage(organised.labelmap).copy()
    reference[~np.isin(source, kept)] = organised.tree.background_value
    assert np.array_equal(sitk.GetArrayViewFromImage(from_cads.labelmap), reference)


def test_folder_of_masks_like_totalsegmentator_writes(ts_seg, organised, tmp_path):
    image, names = ts_seg
    source = sitk.GetArrayViewFromImage(image)
    folder = tmp_path / "segmentations"
    folder.mkdir()
    for value in (2, 3, 5, 10, 31):
        mask = sitk.GetImageFromArray((source == value).astype(np.uint8))
        mask.CopyInformation(image)
        sitk.WriteImage(mask, str(folder / f"{names[value]}.nii.gz"))
    result = organise_input(folder)
    assert result.placement.scheme == "totalsegmentator" and result.placement.matched == 5
    chosen = np.isin(source, (2, 3, 5, 10, 31))
    expected = np.where(chosen, sitk.GetArrayViewFromImage(organised.labelmap), organised.tree.background_value)
    assert np.array_equal(sitk.GetArrayViewFromImage(result.labelmap), expected)


def test_cli_organize_writes_a_seg_nrrd_like_the_engine(shared_data, tmp_path, capsys, organised):
    output = tmp_path / "ts.seg.nrrd"
    assert main(["organize", str(shared_data / "example_seg.nii.gz"), "-o", str(output),
                 "--labels", str(shared_data / "example_seg_labels.json")]) == 0
    err = capsys.readouterr().err
    assert "totalsegmentator: 41/41 structures placed (100%)" in err
    assert "38 on nodes of SALT's tree, 3 on nodes the tree gained, 0 unmapped" in err
    document = slicerio.read_segmentation(str(output))
    assert LabelTree.from_json(document[HEADER_TREE]) == organised.tree
    paths = {segment["tags"][TAG_TREE_PATH] for segment in document["segments"]}
    assert "body,abdominal_cavity,kidneys,kidney_left" in paths and "body,thoracic_cavity,mediastinum,aorta" in paths
    assert len(paths) == 41


def test_unknown_names_are_reported_and_kept(tmp_path, shared_data, capsys):
    image = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    table = tmp_path / "names.txt"
    table.write_text("1 spleen\n2 kidney_right\n3 mystery organ\n5 liver\n")
    output = tmp_path / "out.nii.gz"
    path = tmp_path / "seg.nii.gz"
    sitk.WriteImage(image, str(path))
    result = organise_file(path, output, labels=table)
    # Values present in the image but not in the table are kept too, named by their value.
    assert "mystery organ" in result.placement.unmapped and "label 4" in result.placement.unmapped
    labels = json.loads((tmp_path / "out.labels.json").read_text())
    assert any(entry["node_id"] == "unmapped,mystery_organ" for entry in labels["labels"])
    assert int((sitk.GetArrayViewFromImage(result.labelmap) == result.values[3]).sum()) == int(
        (sitk.GetArrayViewFromImage(image) == 3).sum())


def test_bad_inputs_are_refused_and_write_nothing(tmp_path, shared_data, capsys):
    output = tmp_path / "out.seg.nrrd"
    plain = tmp_path / "plain.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(shared_data / "example_seg.nii.gz")), str(plain))
    assert main(["organize", str(plain), "-o", str(output)]) == 1
    assert "has no name table" in capsys.readouterr().err
    assert main(["organize", str(tmp_path / "missing.nii.gz"), "-o", str(output)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["organize", str(plain), "-o", str(output), "--scheme", "cads", "--task", "999"]) == 1
    assert "no label value map '999'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputImageError, match="holds no segmentation masks"):
        organise_input(empty)
    with pytest.raises(MappingError, match="integer"):
        organise_labelmap(sitk.Image(4, 4, 4, sitk.sitkFloat32), {})
    assert list(tmp_path.glob("out*")) == []


def test_organised_tree_is_shared_by_all_schemes():
    assert organised_tree() is organised_tree()


def test_batch_organize_a_cohort_with_volumes_per_node_and_resume(shared_data, tmp_path, capsys):
    import csv

    image = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    names = json.loads((shared_data / "example_seg_labels.json").read_text())
    cohort = tmp_path / "cohort"
    (cohort / "site1").mkdir(parents=True)
    sitk.WriteImage(image, str(cohort / "site1" / "p1.nii.gz"))  # TotalSegmentator --ml output
    (cohort / "site1" / "p1_labels.json").write_text(json.dumps(names))
    masks = cohort / "p2" / "segmentations"  # TotalSegmentator's default: one mask per structure
    masks.mkdir(parents=True)
    source = sitk.GetArrayViewFromImage(image)
    for value in (2, 3, 31, 32):
        mask = sitk.GetImageFromArray((source == value).astype(np.uint8))
        mask.CopyInformation(image)
        sitk.WriteImage(mask, str(masks / f"{names[str(value)]}.nii.gz"))
    (cohort / "broken.nii.gz").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["batch", str(cohort), "-o", str(out), "--organize", "--quiet"]) == 1  # the broken case
    manifest = {row["case"]: row for row in csv.DictReader(open(out / "manifest.csv"))}
    assert manifest["site1/p1"]["status"] == "done" and manifest["site1/p1"]["structures"] == "41"
    assert manifest["p2/segmentations"]["status"] == "done" and manifest["p2/segmentations"]["structures"] == "4"
    assert manifest["broken"]["status"] == "failed" and manifest["broken"]["error"]
    assert (out / "site1" / "p1.seg.nrrd").is_file() and (out / "p2" / "segmentations.seg.nrrd").is_file()
    volumes = {(row["case"], row["node"]): row for row in csv.DictReader(open(out / "volumes.csv"))}
    kidneys = int(volumes[("p2/segmentations", "body,abdominal_cavity,kidneys")]["voxels"])
    assert kidneys == int(np.isin(source, (2, 3)).sum()) > 0
    assert int(volumes[("site1/p1", "body,bones,spine")]["voxels"]) == int(np.isin(source, range(26, 51)).sum())
    # A re-run redoes only the failed case.
    (cohort / "broken.nii.gz").unlink()
    assert main(["batch", str(cohort), "-o", str(out), "--organize", "--quiet"]) == 0
    rerun = {row["case"]: row["status"] for row in csv.DictReader(open(out / "manifest.csv"))}
    assert rerun["site1/p1"] == "skipped" and rerun["p2/segmentations"] == "skipped"


def test_structures_keep_the_model_id_they_carried_and_the_others_get_the_organised_one():
    liver, spleen = ("body", "abdominal_cavity", "liver"), ("body", "abdominal_cavity", "spleen")
    labelmap = sitk.GetImageFromArray(np.array([[[0, 1, 2]]], dtype=np.uint8))
    result = organise_labelmap(labelmap, {1: "liver", 2: "spleen"}, paths={1: liver, 2: spleen},
                               model_ids={1: "salt-v1"})  # the spleen was drawn by hand, say
    whole, by_value = result.written_model_ids("organized:own-tags")
    assert (whole, by_value) == ("organized:own-tags", {result.tree.label_value(liver): "salt-v1"})
