"""Phantom generator: determinism, label tree consistency, anatomy sides, file orientation, layout."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.tree.labeltree import LabelTree, parse_tree_labels
from saltseg.phantom import (LEFT_RIGHT_PAIRS, PHANTOM_LEAF_PATHS, generate_phantom, phantom_tree,
                             phantom_tree_labels_text)
from saltseg.phantom.geometry import ORIENTATIONS
from saltseg.phantom.tree import value_of

COARSE = 8.0  # mm: fast phantoms for tests


def _physical_centroid(labels: sitk.Image, value: int) -> np.ndarray:
    """Mean LPS position of the voxels with ``value`` (whatever the grid orientation)."""
    index = np.argwhere(sitk.GetArrayViewFromImage(labels) == value)[:, ::-1]  # (i, j, k)
    direction = np.asarray(labels.GetDirection()).reshape(3, 3)
    points = np.asarray(labels.GetOrigin()) + (index * np.asarray(labels.GetSpacing())) @ direction.T
    return points.mean(axis=0)


def test_same_seed_same_phantom_and_different_seed_differs():
    a, b, c = generate_phantom(11, COARSE), generate_phantom(11, COARSE), generate_phantom(12, COARSE)
    for x, y in ((a.image, b.image), (a.labels, b.labels)):
        assert np.array_equal(sitk.GetArrayViewFromImage(x), sitk.GetArrayViewFromImage(y))
        assert x.GetOrigin() == y.GetOrigin() and x.GetDirection() == y.GetDirection()
    assert a.info == b.info
    assert a.image.GetSize() != c.image.GetSize() or not np.array_equal(
        sitk.GetArrayViewFromImage(a.image), sitk.GetArrayViewFromImage(c.image))


def test_tree_labels_file_is_a_valid_salt_tree_in_label_value_order():
    labels = parse_tree_labels(phantom_tree_labels_text())
    tree = LabelTree.from_source_labels(labels)
    assert tree == phantom_tree()
    assert tree.max_depth >= 4 and len(tree.leaves) >= 20
    assert tree.background_value == 0
    for label in labels:  # line i of tree-labels.txt is SALT's output label value i
        assert tree.label_value(label.path) == label.value
    for left, right in LEFT_RIGHT_PAIRS:
        assert tree.parent(tree.index(PHANTOM_LEAF_PATHS[value_of(left)])) == \
            tree.parent(tree.index(PHANTOM_LEAF_PATHS[value_of(right)]))
    for name in ("subcutaneous_tissue", "muscles", "bones", "spine", "lumbar_spine", "thoracic_spine",
                 "cervical_spine", "rib_cage", "thoracic_cavity", "lungs", "mediastinum", "heart",
                 "aorta", "abdominal_cavity", "liver", "spleen", "kidneys"):
        assert any(name in path for path in tree.paths), name


def test_phantom_labels_image_geometry_and_intensities():
    phantom = generate_phantom(5, COARSE, orientation="LPS", field_of_view="trunk")
    image, labels = phantom.image, phantom.labels
    assert image.GetPixelID() == sitk.sitkInt16 and labels.GetPixelID() == sitk.sitkUInt8
    for attribute in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(image, attribute)() == getattr(labels, attribute)()
    values = sitk.GetArrayViewFromImage(labels)
    hu = sitk.GetArrayViewFromImage(image)
    assert values.max() < len(PHANTOM_LEAF_PATHS)
    assert len(np.unique(values)) >= 22  # the whole trunk shows (nearly) every structure
    assert np.median(hu[values == 0]) < -900  # air
    assert np.median(hu[values == value_of("lung_left")]) < -700
    assert np.median(hu[values == value_of("liver")]) > 40
    assert np.median(hu[values == value_of("thoracic_spine")]) > 200


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "LSP"])
def test_organs_on_the_correct_side_whatever_the_file_orientation(orientation):
    phantom = generate_phantom(3, COARSE, orientation=orientation, field_of_view="chest_abdomen")
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(phantom.image.GetDirection())
    assert code == orientation
    centroid = {name: _physical_centroid(phantom.labels, value_of(name))
                for name in ("liver", "spleen", "kidney_left", "kidney_right", "lung_left", "lung_right", "heart")}
    # LPS: +x is the patient's left
    assert centroid["liver"][0] < centroid["spleen"][0]
    assert centroid["kidney_right"][0] < centroid["kidney_left"][0]
    assert centroid["lung_right"][0] < centroid["lung_left"][0]
    assert centroid["heart"][1] < centroid["kidney_left"][1]  # heart anterior (−y)
    assert centroid["lung_left"][2] > centroid["kidney_left"][2]  # lungs superior (+z)


def test_random_variation_covers_orientations_and_fields_of_view():
    infos = [generate_phantom(seed, 12.0).info for seed in range(16)]
    assert len({i["orientation"] for i in infos}) >= 4
    assert len({i["field_of_view"] for i in infos}) >= 3
    assert any(i["oblique_degrees"] > 0 for i in infos)
    assert set(i["orientation"] for i in infos) <= set(ORIENTATIONS)


def test_phantom_command_writes_salt_dataset_layout(tmp_path):
    from saltseg.cli import phantom_command
    from saltseg.training.data import find_datasets

    parser = argparse.ArgumentParser()
    phantom_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["phantom", "--seed", "40", "--count", "2", "-o", str(tmp_path / "ds"),
                              "--spacing", "10", "--quiet"])
    assert args.run(args) == 0
    args = parser.parse_args(["phantom", "--seed", "50", "-o", str(tmp_path / "ds"), "--split", "val",
                              "--spacing", "10", "--quiet"])
    assert args.run(args) == 0
    ds = tmp_path / "ds"
    assert (ds / "tree-labels.txt").read_text() == phantom_tree_labels_text()
    assert len((ds / "labels.txt").read_text().splitlines()) == len(PHANTOM_LEAF_PATHS)
    for name in ("phantom_00040.nii.gz", "phantom_00041.nii.gz"):
        assert (ds / "train" / "images" / name).is_file() and (ds / "train" / "labels" / name).is_file()
    data = find_datasets([ds])
    assert data.tree == phantom_tree()
    assert len(data.cases("train")) == 2 and len(data.cases("val")) == 1
    written = sitk.ReadImage(str(ds / "train" / "labels" / "phantom_00040.nii.gz"))
    again = generate_phantom(40, 10.0).labels
    assert np.array_equal(sitk.GetArrayViewFromImage(written), sitk.GetArrayViewFromImage(again))
