"""DICOM series whose slices do not form a regular grid: a gantry-tilted CT (sheared stack) and one
with a missing slice are resampled onto a regular grid with a warning that names the tilt or the
gap, every slice's anatomy where its header puts it; what cannot be one volume (slices of another
orientation, two images at one position, a hole of more than 10 mm) is refused. A regular series
reads exactly as SimpleITK reads it. Also through ``saltseg segment``, a batch case, DICOM SEG
(frames back on the source images) and RT Structure Set (refused: rt-utils would misplace)."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import copy_series_with_uids
from dicom_geometry_support import (copy_slice, move_slice, physical_centroid, remove_slices, rotate_slice,
                                    slice_files, tilt_series)
from saltseg.cli import main
from saltseg.errors import InputImageError
from saltseg.inference.pipeline import SegmentOptions
from saltseg.io.image_io import read_image

pydicom = pytest.importorskip("pydicom")

TILT = 15.0


def _series(tmp_path_factory, shared_data, name: str) -> Path:
    folder = tmp_path_factory.mktemp(name) / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", folder)
    return folder


def _series_copy(tmp_path: Path, shared_data: Path) -> Path:
    return Path(shutil.copytree(shared_data / "example_ct_dicom", tmp_path / "series"))


def _read(folder: Path, caplog) -> tuple[sitk.Image, str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="saltseg"):
        image = read_image(folder)
    return image, caplog.text


def _slab(image: sitk.Image, position) -> sitk.Image:
    """The one-slice volume of ``image`` through the physical point ``position``."""
    k = image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in position))[2]
    assert abs(k - round(k)) < 0.01, f"no slice of the grid at {position} (index {k:.3f})"
    return image[:, :, int(round(k)):int(round(k)) + 1]


@pytest.fixture(scope="module")
def regular(tmp_path_factory, shared_data) -> Path:
    return _series(tmp_path_factory, shared_data, "regular")


@pytest.fixture(scope="module")
def tilted(tmp_path_factory, shared_data) -> Path:
    folder = _series(tmp_path_factory, shared_data, "tilted")
    tilt_series(folder, TILT)
    return folder


@pytest.fixture(scope="module")
def gapped(tmp_path_factory, shared_data) -> Path:
    folder = _series(tmp_path_factory, shared_data, "gapped")
    remove_slices(folder, 10)
    return folder


def test_a_regular_series_reads_exactly_as_simpleitk_reads_it_without_a_warning(regular, caplog):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(regular)))
    plain = reader.Execute()

    image, warnings = _read(regular, caplog)

    assert warnings == ""
    assert np.array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(plain))
    assert image.GetSpacing() == plain.GetSpacing()
    assert image.GetOrigin() == plain.GetOrigin()
    assert image.GetDirection() == plain.GetDirection()


def test_every_slice_of_a_tilted_series_lies_where_its_header_puts_it(tilted, caplog):
    image, _ = _read(tilted, caplog)
    floor = float(sitk.GetArrayViewFromImage(image).min())
    worst = 0.0
    for path in slice_files(tilted):
        source = sitk.ReadImage(str(path))  # one slice, placed by its own IPP and IOP
        ours = _slab(image, source.GetOrigin())
        worst = max(worst, float(np.linalg.norm(physical_centroid(ours, floor) - physical_centroid(source, floor))))
    assert worst < 0.05 * min(image.GetSpacing())  # a twentieth of a voxel; the shear reaches 10 mm


def test_a_tilted_series_is_read_onto_an_axial_grid_that_keeps_every_slice_whole(tilted, caplog):
    image, _ = _read(tilted, caplog)
    assert image.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert image.GetSpacing()[2] == pytest.approx(2.0)  # along the normal, not between slice origins
    assert image.GetSize() == (512, 512 + 11, 20)  # the 10.2 mm shear is 10.4 rows of 0.977 mm


def test_the_tilt_is_named_in_a_warning(tilted, caplog):
    _, warnings = _read(tilted, caplog)
    assert "gantry tilt of 15.0° (GantryDetectorTilt 15°)" in warnings
    assert "resampled onto a regular grid of 20 slices 2 mm apart" in warnings


def test_a_missing_slice_is_interpolated_and_every_other_slice_keeps_its_pixels_and_place(gapped, caplog):
    image, _ = _read(gapped, caplog)
    assert image.GetSize()[2] == 20
    assert image.GetSpacing()[2] == pytest.approx(2.0)
    for path in slice_files(gapped):
        source = sitk.ReadImage(str(path))
        assert np.array_equal(sitk.GetArrayViewFromImage(_slab(image, source.GetOrigin())),
                              sitk.GetArrayViewFromImage(source)), path.name
    array = sitk.GetArrayViewFromImage(image).astype(float)
    assert np.abs(array[10] - (array[9] + array[11]) / 2).max() <= 0.5  # linear between its neighbours


def test_the_missing_slice_is_named_in_a_warning(gapped, caplog):
    _, warnings = _read(gapped, caplog)
    assert "1 slice is missing between -786.5 and -782.5 mm along the slice normal" in warnings
    assert "4 mm apart, 2 mm elsewhere" in warnings


def test_a_hole_of_more_than_10_mm_is_refused(tmp_path, shared_data):
    folder = _series_copy(tmp_path, shared_data)
    remove_slices(folder, 8, count=5)  # 12 mm between the slices left
    with pytest.raises(InputImageError, match=r"has a hole: 5 slices are missing .* more than 10 mm cannot be filled"):
        read_image(folder)


def test_a_slice_of_another_orientation_is_refused(tmp_path, shared_data):
    folder = _series_copy(tmp_path, shared_data)
    rotate_slice(folder, 7, 5.0)
    with pytest.raises(InputImageError, match=r"is not one volume: slice .* is oriented differently .* 5\.0° apart"):
        read_image(folder)


def test_a_repeated_file_of_one_slice_is_left_out_with_a_warning(tmp_path, shared_data, caplog):
    folder = _series_copy(tmp_path, shared_data)
    copy_slice(folder, 4, "copy-of-slice-4.dcm")
    image, warnings = _read(folder, caplog)
    assert image.GetSize()[2] == 20
    assert "copy-of-slice-4.dcm repeats the slice of" in warnings


def test_two_different_images_at_one_position_are_refused(tmp_path, shared_data):
    folder = _series_copy(tmp_path, shared_data)
    move_slice(folder, 19, onto=18)
    with pytest.raises(InputImageError, match="lie at the same position but hold different images"):
        read_image(folder)


def test_cli_segments_a_tilted_series_on_the_regular_grid_and_says_so(tilted, small_threshold_model, tmp_path):
    output = tmp_path / "labels.nii.gz"
    completed = subprocess.run([sys.executable, "-m", "saltseg", "segment", str(tilted), "-o", str(output), "--model",
                                str(small_threshold_model), "--device", "cpu", "--backend", "torch", "--quiet"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert f"DICOM series in {tilted}: the slices are sheared by a gantry tilt of 15.0°" in completed.stderr
    labels = sitk.ReadImage(str(output))
    top = sitk.ReadImage(str(slice_files(tilted)[-1]))  # the slice shifted most along y
    last_row = top.TransformIndexToPhysicalPoint((0, top.GetSize()[1] - 1, 0))
    covered = labels.TransformIndexToPhysicalPoint((0, labels.GetSize()[1] - 1, labels.GetSize()[2] - 1))
    assert covered[1] >= last_row[1] - 1e-3  # the labels reach that slice's last row
    assert covered[1] - last_row[1] < labels.GetSpacing()[1]  # and end within a row of it


def test_cli_refuses_an_rt_structure_set_of_a_tilted_series_before_any_work(tilted, small_threshold_model,
                                                                            tmp_path, capfd):
    pytest.importorskip("rt_utils")
    output = tmp_path / "ct.rtstruct.dcm"
    code = main(["segment", str(tilted), "-o", str(output), "--format", "rtstruct", "--model",
                 str(small_threshold_model), "--device", "cpu", "--quiet"])
    err = capfd.readouterr().err
    assert code == 1
    assert "an RT Structure Set cannot be written for the DICOM series" in err
    assert "gantry tilt of 15.0°" in err and "write DICOM SEG" in err
    assert not output.exists()


@pytest.mark.parametrize("kind", ["tilted", "gapped"])
def test_batch_dicom_seg_frames_hold_the_labels_where_their_source_images_lie(kind, request, small_threshold_model,
                                                                             tmp_path):
    pytest.importorskip("highdicom")
    pytest.importorskip("distributed")
    from saltseg.batch.cases import discover_cases
    from saltseg.batch.worker import CaseSettings, run_case
    from saltseg.inference.pipeline import segment_image
    from saltseg.model.model_io import load_model

    series = request.getfixturevalue(kind)
    options = SegmentOptions(backend="torch")
    [case] = discover_cases([series])
    outcome = run_case(case, CaseSettings(str(tmp_path), str(small_threshold_model), "threshold", "cpu", "dicom-seg",
                                          options))
    assert outcome.record.status == "done", outcome.record.error
    reference = segment_image(read_image(series), load_model(small_threshold_model, "cpu"), options).labelmap

    sources, positions = {}, {}
    for path in slice_files(series):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        uid = header.SOPInstanceUID
        positions[uid] = np.asarray(header.ImagePositionPatient, dtype=float)
        # The labels at the source image's pixels, by ITK's own resampler onto its geometry.
        on_source = sitk.Resample(reference, sitk.ReadImage(str(path)), sitk.Transform(), sitk.sitkNearestNeighbor)
        sources[uid] = sitk.GetArrayFromImage(on_source)[0]
    seg = pydicom.dcmread(tmp_path / outcome.record.output)
    tree = load_model(small_threshold_model, "cpu").tree
    value_of_segment = {int(item.SegmentNumber): tree.label_value(item.TrackingID) for item in seg.SegmentSequence}
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns).astype(bool)
    stored, misplaced = {}, 0.0
    for frame, groups in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = groups.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        stored[uid, int(groups.SegmentIdentificationSequence[0].ReferencedSegmentNumber)] = frame
        position = np.asarray(groups.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        misplaced = max(misplaced, float(np.linalg.norm(position - positions[uid])))
    mismatched = sum(int(np.count_nonzero(stored.get((uid, segment), False) != (labels == value)))
                     for uid, labels in sources.items() for segment, value in value_of_segment.items())
    assert len(value_of_segment) >= 3
    assert misplaced < 1e-3  # every frame sits on the image it references
    assert mismatched == 0  # every segment on every source image: absent frames are empty ones


def test_batch_refuses_an_rt_structure_set_of_a_gapped_series(gapped, small_threshold_model, tmp_path):
    pytest.importorskip("rt_utils")
    pytest.importorskip("distributed")
    from saltseg.batch.cases import discover_cases
    from saltseg.batch.worker import CaseSettings, run_case

    [case] = discover_cases([gapped])
    outcome = run_case(case, CaseSettings(str(tmp_path), str(small_threshold_model), "threshold", "cpu", "rtstruct",
                                          SegmentOptions(backend="torch")))
    assert outcome.record.status == "failed"
    assert "1 slice is missing" in outcome.record.error
    assert not list(tmp_path.glob("*.dcm"))
