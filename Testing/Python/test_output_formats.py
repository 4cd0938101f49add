"""Output formats are declared once (saltseg.outputs.formats) and every front end offers all of
them: a DICOM SEG of one CT from ``saltseg segment``, the same choices in ``segment`` and
``batch``, a format's needs checked before any work."""
from __future__ import annotations

import numpy as np
import pytest

from batch_support import copy_series_with_uids
from saltseg.cli import build_parser, main
from saltseg.errors import OutputError
from saltseg.outputs.formats import FORMATS, format_of
from saltseg.outputs.plan import OutputPlan

highdicom = pytest.importorskip("highdicom")


def format_choices_of(command: str) -> set[str]:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    action = subparsers.choices[command]._option_string_actions["--format"]
    return set(action.choices)


@pytest.mark.parametrize("command", ["segment", "batch"])
@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_is_offered_by_every_command(command, name):
    assert name in format_choices_of(command)


@pytest.mark.parametrize("name, suffix", [("seg.nrrd", "ct.seg.nrrd"), ("labelmap", "ct.nii.gz"),
                                          ("dicom-seg", "ct.seg.dcm"), ("rtstruct", "ct.rtstruct.dcm")])
def test_auto_format_comes_from_the_name(name, suffix, tmp_path):
    assert format_of(tmp_path / suffix).name == name


def test_a_dcm_name_that_says_no_object_is_refused(tmp_path):
    with pytest.raises(OutputError, match=r"name it \*\.seg\.dcm \(DICOM SEG\) or \*\.rtstruct\.dcm"):
        format_of(tmp_path / "ct.dcm")


def test_an_explicit_format_must_match_the_name(tmp_path):
    with pytest.raises(OutputError, match=r"--format dicom-seg: name the output \*\.seg\.dcm, not ct\.nii\.gz"):
        format_of(tmp_path / "ct.nii.gz", "dicom-seg")


def test_a_labelmap_plan_writes_its_label_table_too(tmp_path):
    assert OutputPlan.of(tmp_path / "ct.nii.gz").files() == [tmp_path / "ct.nii.gz", tmp_path / "ct.labels.json"]


def test_a_dicom_format_of_an_image_file_is_refused_before_any_work(shared_data, tmp_path, capsys):
    code = main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.seg.dcm"),
                 "--model", "salt-phantom-demo", "--quiet"])
    assert (code, capsys.readouterr().err.strip().splitlines()[-1]) == (
        1, f"saltseg: error: {shared_data / 'example_ct_sm.nii.gz'} is not a DICOM series folder: dicom-seg output "
           "references the DICOM series it was made from; write .seg.nrrd or a labelmap for image files")


@pytest.fixture(scope="module")
def dicom_seg_of_one_ct(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom-seg")
    series_uid = copy_series_with_uids(shared_data / "example_ct_dicom", folder / "ct")
    output = folder / "ct.seg.dcm"
    code = main(["segment", str(folder / "ct"), "-o", str(output), "--model", "salt-phantom-demo",
                 "--device", "cpu", "--fast", "--quiet"])
    return code, output, series_uid, folder


def test_segment_writes_a_dicom_seg_of_one_ct(dicom_seg_of_one_ct):
    code, output, _, _ = dicom_seg_of_one_ct
    assert (code, output.is_file()) == (0, True)


def test_the_dicom_seg_references_the_segmented_series(dicom_seg_of_one_ct):
    _, output, series_uid, _ = dicom_seg_of_one_ct
    assert highdicom.seg.segread(output).ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid


def test_every_frame_references_an_image_of_the_segmented_series(dicom_seg_of_one_ct):
    import pydicom

    _, output, _, folder = dicom_seg_of_one_ct
    seg = highdicom.seg.segread(output)
    referenced = {item.ReferencedSOPInstanceUID for frame in seg.PerFrameFunctionalGroupsSequence
                  for item in frame.DerivationImageSequence[0].SourceImageSequence}
    series = {pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID for path in (folder / "ct").iterdir()}
    assert referenced and referenced <= series


@pytest.fixture(scope="module")
def node_masks(shared_data, tmp_path_factory):
    import json

    import SimpleITK as sitk

    folder = tmp_path_factory.mktemp("node-masks")
    for output in ("ct.masks.json", "ct.nii.gz"):
        assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(folder / output), "--model",
                     "salt-phantom-demo", "--device", "cpu", "--fast", "--quiet"]) == 0
    index = json.loads((folder / "ct.masks.json").read_text())
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ct.nii.gz")))
    return folder, index, labels


def test_node_masks_index_names_a_mask_for_every_group_above_a_structure(node_masks):
    _, index, _ = node_masks
    assert {"body", "body,bones", "body,bones,spine"} <= set(index["masks"])


def test_node_masks_index_names_only_files_that_exist(node_masks):
    folder, index, _ = node_masks
    assert all((folder / name).is_file() for name in index["masks"].values())


def test_the_body_mask_is_every_labelled_voxel(node_masks):
    import SimpleITK as sitk

    folder, index, labels = node_masks
    body = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / index["masks"]["body"])))
    assert np.array_equal(body.astype(bool), labels != 0)
