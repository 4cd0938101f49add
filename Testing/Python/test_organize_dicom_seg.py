"""A DICOM SEG as ``saltseg organize`` input: written by this project's DICOM SEG writer on the
shared series (UIDs restored), read back with its geometry; segments placed by the tree path in
their Tracking ID, or — with labels and Tracking IDs removed — by their SNOMED CT codes and
laterality."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("highdicom")

import pydicom  # noqa: E402

from batch_support import copy_series_with_uids  # noqa: E402
from saltseg.io.dicom_seg import source_headers, write_dicom_seg  # noqa: E402
from saltseg.organize.dicom_seg_input import is_dicom_seg  # noqa: E402
from saltseg.organize.organize_file import organise_input  # noqa: E402

KIDNEY_LEFT = "body,abdominal_cavity,kidneys,kidney_left"
KIDNEY_RIGHT = "body,abdominal_cavity,kidneys,kidney_right"
LIVER = "body,abdominal_cavity,liver"


@pytest.fixture(scope="module")
def dicom_seg(shared_data, salt_tree, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom_seg")
    series = folder / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", series)
    reader = sitk.ImageSeriesReader()
    files = list(reader.GetGDCMSeriesFileNames(str(series)))
    image = sitk.ReadImage(files)
    labels = np.full(sitk.GetArrayViewFromImage(image).shape, salt_tree.background_value, np.uint8)
    # LPS with an identity direction: larger x (column) is the patient's left.
    labels[5:12, 200:260, 330:390] = salt_tree.label_value(KIDNEY_LEFT)
    labels[5:12, 200:260, 120:180] = salt_tree.label_value(KIDNEY_RIGHT)
    labels[8:15, 100:180, 100:250] = salt_tree.label_value(LIVER)
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(image)
    path = write_dicom_seg(labelmap, salt_tree, source_headers(files, str(series)), folder / "ct.seg.dcm", "test")
    return path, labelmap, image


def _check_placed(result, labelmap, image, salt_tree):
    # A SEG stores only the frames with segments: its grid is the CT's, cut to those slices (and
    # highdicom may order them the other way round, which SimpleITK's direction records).
    assert np.allclose(result.labelmap.GetSpacing(), image.GetSpacing(), atol=1e-4)
    assert np.allclose(np.abs(result.labelmap.GetDirection()), np.abs(image.GetDirection()), atol=1e-6)
    start = image.TransformPhysicalPointToContinuousIndex(result.labelmap.GetOrigin())
    assert np.allclose(start, np.round(start), atol=1e-3) and result.labelmap.GetSize()[:2] == image.GetSize()[:2]
    tree = result.tree
    on_ct = sitk.Resample(result.labelmap, image, sitk.Transform(), sitk.sitkNearestNeighbor,
                          float(tree.background_value))
    organised = sitk.GetArrayViewFromImage(on_ct)
    source = sitk.GetArrayViewFromImage(labelmap)
    for path in (KIDNEY_LEFT, KIDNEY_RIGHT, LIVER):
        assert np.array_equal(organised == tree.label_value(path), source == salt_tree.label_value(path)), path


def test_dicom_seg_written_here_is_placed_by_its_tracking_ids(dicom_seg, salt_tree):
    path, labelmap, image = dicom_seg
    assert is_dicom_seg(path) and not is_dicom_seg(next((path.parent / "series").iterdir()))
    result = organise_input(path)
    assert result.placement.unmapped == [] and set(result.placement.how.values()) == {"tag"}
    _check_placed(result, labelmap, image, salt_tree)


def test_dicom_seg_from_elsewhere_is_placed_by_codes_and_laterality(dicom_seg, salt_tree, tmp_path):
    path, labelmap, image = dicom_seg
    dataset = pydicom.dcmread(path)
    for number, item in enumerate(dataset.SegmentSequence, start=1):
        item.SegmentLabel = f"Segment {number}"  # names that say nothing
        item.TrackingID = f"track {number}"
    anonymous = tmp_path / "other.dcm"
    dataset.save_as(anonymous)
    result = organise_input(anonymous)
    assert result.placement.scheme == "snomed" and result.placement.unmapped == []
    assert set(result.placement.how.values()) == {"code"}
    _check_placed(result, labelmap, image, salt_tree)
