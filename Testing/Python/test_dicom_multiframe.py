"""A CT stored as one multi-frame DICOM file (here the shared series converted to a Legacy Converted
Enhanced CT file, as archives and scanners store CTs): its frames are placed where their functional
groups say, not where SimpleITK's reader guesses. Frames out of order read as the series itself;
a missing frame is interpolated with a warning naming the gap; two stacks in one file and frames
rescaled differently are refused; frames without positions are read with a warning. A series split
over several multi-frame files is stacked as one series' slices."""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import copy_series_with_uids
from saltseg.errors import InputImageError
from saltseg.io.image_io import read_image

pydicom = pytest.importorskip("pydicom")
highdicom = pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def series(tmp_path_factory, shared_data) -> Path:
    folder = tmp_path_factory.mktemp("multiframe") / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", folder)
    return folder


@pytest.fixture(scope="module")
def series_image(series) -> sitk.Image:
    return read_image(series)


@pytest.fixture(scope="module")
def multiframe(series, tmp_path_factory):
    """The series as one Legacy Converted Enhanced CT file (frames ordered by highdicom)."""
    datasets = [pydicom.dcmread(path) for path in sorted(series.iterdir())]
    converted = highdicom.legacy.LegacyConvertedEnhancedCTImage(
        datasets, series_instance_uid=highdicom.UID(), series_number=99, sop_instance_uid=highdicom.UID(),
        instance_number=1)
    path = tmp_path_factory.mktemp("multiframe-file") / "ct.dcm"
    converted.save_as(path)
    return pydicom.dcmread(path)


def _frames(dataset) -> list[bytes]:
    count = int(dataset.NumberOfFrames)
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(pydicom.encaps.generate_frames(dataset.PixelData, number_of_frames=count))
    size = len(dataset.PixelData) // count
    return [dataset.PixelData[k * size:(k + 1) * size] for k in range(count)]


def _write(dataset, frames: list[int], path: Path, change=None) -> Path:
    """``dataset`` with only ``frames`` (in that order: their pixels and functional groups)."""
    result = copy.deepcopy(dataset)
    pixels = _frames(dataset)
    groups = dataset.PerFrameFunctionalGroupsSequence
    result.PerFrameFunctionalGroupsSequence = pydicom.Sequence([copy.deepcopy(groups[k]) for k in frames])
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        result.PixelData = pydicom.encaps.encapsulate([pixels[k] for k in frames])
    else:
        result.PixelData = b"".join(pixels[k] for k in frames)
    result.NumberOfFrames = len(frames)
    if change is not None:
        change(result)
    result.save_as(path)
    return path


def _read(path: Path, caplog) -> tuple[sitk.Image, str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="saltseg"):
        image = read_image(path)
    return image, caplog.text


def _on_grid_of(image: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """``image``'s voxels at ``reference``'s voxel centres (nearest): equal arrays mean the same
    anatomy in the same places."""
    return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, -3000))


def test_frames_in_order_read_as_the_series(multiframe, series_image, tmp_path, caplog):
    count = int(multiframe.NumberOfFrames)
    image, warnings = _read(_write(multiframe, list(range(count)), tmp_path / "ct.dcm"), caplog)
    assert image.GetSpacing() == pytest.approx(series_image.GetSpacing())
    assert np.array_equal(_on_grid_of(image, series_image), sitk.GetArrayFromImage(series_image))
    assert warnings == ""


def test_frames_out_of_order_read_as_the_series(multiframe, series_image, tmp_path, caplog):
    order = [int(k) for k in np.random.default_rng(3).permutation(int(multiframe.NumberOfFrames))]
    path = _write(multiframe, order, tmp_path / "scrambled.dcm")
    image, warnings = _read(path, caplog)
    assert image.GetSpacing() == pytest.approx(series_image.GetSpacing())
    assert np.array_equal(_on_grid_of(image, series_image), sitk.GetArrayFromImage(series_image))
    assert "stored out of order" in warnings


def test_a_multi_frame_file_alone_in_a_folder_reads_as_the_file(multiframe, series_image, tmp_path):
    order = [int(k) for k in np.random.default_rng(4).permutation(int(multiframe.NumberOfFrames))]
    folder = tmp_path / "one-file"
    folder.mkdir()
    _write(multiframe, order, folder / "scrambled.dcm")
    image = read_image(folder)
    assert np.array_equal(_on_grid_of(image, series_image), sitk.GetArrayFromImage(series_image))


def _split(dataset, parts: list[list[int]], folder: Path, change=None) -> Path:
    """``dataset``'s frames split over several files of one series (``parts``: each file's frames)."""
    folder.mkdir()
    for number, frames in enumerate(parts, start=1):
        def another_instance(result, number=number) -> None:
            result.SOPInstanceUID = highdicom.UID()
            result.file_meta.MediaStorageSOPInstanceUID = result.SOPInstanceUID
            result.InstanceNumber = number
            if change is not None:
                change(result, number)
        _write(dataset, frames, folder / f"part{number}.dcm", another_instance)
    return folder


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_multi_frame_series_split_over_files_reads_as_the_series(multiframe, series_image, tmp_path, interleaved):
    """GDCM's series reader made these 4D (each file a time point), which was then refused as 4D."""
    count = int(multiframe.NumberOfFrames)
    parts = ([list(range(0, count, 2)), list(range(1, count, 2))] if interleaved
             else [list(range(count // 2)), list(range(count // 2, count))])
    image = read_image(_split(multiframe, parts, tmp_path / "split"))
    assert image.GetSpacing() == pytest.approx(series_image.GetSpacing())
    assert np.array_equal(_on_grid_of(image, series_image), sitk.GetArrayFromImage(series_image))


def test_split_files_whose_frames_are_not_placed_are_refused(multiframe, tmp_path):
    count = int(multiframe.NumberOfFrames)

    def second_without_positions(dataset, number) -> None:
        if number == 2:
            for groups in dataset.PerFrameFunctionalGroupsSequence:
                del groups.PlanePositionSequence

    folder = _split(multiframe, [list(range(count // 2)), list(range(count // 2, count))], tmp_path / "split",
                    second_without_positions)
    with pytest.raises(InputImageError, match="part2.dcm does not record where its frames lie"):
        read_image(folder)


def test_a_missing_frame_is_interpolated_on_the_series_grid_with_a_warning(multiframe, series_image, tmp_path,
                                                                            caplog):
    count = int(multiframe.NumberOfFrames)
    image, warnings = _read(_write(multiframe, [k for k in range(count) if k != 7], tmp_path / "gap.dcm"), caplog)
    assert image.GetSize() == series_image.GetSize()
    assert image.GetSpacing() == pytest.approx(series_image.GetSpacing())  # not the reader's 1×1×1 mm guess
    assert "1 slice is missing" in warnings
    resampled, expected = _on_grid_of(image, series_image), sitk.GetArrayFromImage(series_image)
    z = {round(series_image.TransformIndexToPhysicalPoint((0, 0, k))[2], 3): k for k in range(count)}
    missing = z[round(float(multiframe.PerFrameFunctionalGroupsSequence[7].PlanePositionSequence[0]
                            .ImagePositionPatient[2]), 3)]
    kept = [k for k in range(count) if k != missing]
    assert np.array_equal(resampled[kept], expected[kept])


def test_two_stacks_in_one_file_are_refused(multiframe, tmp_path):
    count = int(multiframe.NumberOfFrames)

    def second_stack_on_the_first(dataset) -> None:  # frames 10… placed on frames 0…: two phases
        groups = dataset.PerFrameFunctionalGroupsSequence
        for k in range(10, count):
            groups[k].PlanePositionSequence[0].ImagePositionPatient = \
                groups[k - 10].PlanePositionSequence[0].ImagePositionPatient

    path = _write(multiframe, list(range(count)), tmp_path / "stacks.dcm", second_stack_on_the_first)
    with pytest.raises(InputImageError, match="not one volume"):
        read_image(path)


def test_frames_rescaled_differently_are_refused(multiframe, tmp_path):
    count = int(multiframe.NumberOfFrames)

    def per_frame_rescale(dataset) -> None:
        for k, groups in enumerate(dataset.PerFrameFunctionalGroupsSequence):
            item = pydicom.Dataset()
            item.RescaleSlope, item.RescaleIntercept, item.RescaleType = 1, -1024 - (k % 2), "HU"
            groups.PixelValueTransformationSequence = pydicom.Sequence([item])

    path = _write(multiframe, list(range(count)), tmp_path / "rescaled.dcm", per_frame_rescale)
    with pytest.raises(InputImageError, match="rescale their pixel values differently"):
        read_image(path)


def test_a_malformed_frame_position_is_refused_by_name(multiframe, tmp_path):
    count = int(multiframe.NumberOfFrames)

    def two_numbers(dataset) -> None:
        dataset.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence[0].ImagePositionPatient = [1.0, 2.0]

    path = _write(multiframe, list(range(count)), tmp_path / "malformed.dcm", two_numbers)
    with pytest.raises(InputImageError, match="frame 5 has an unreadable ImagePositionPatient"):
        read_image(path)


def test_frames_without_positions_are_read_with_a_warning(multiframe, tmp_path, caplog):
    count = int(multiframe.NumberOfFrames)

    def no_positions(dataset) -> None:
        for groups in dataset.PerFrameFunctionalGroupsSequence:
            del groups.PlanePositionSequence

    image, warnings = _read(_write(multiframe, list(range(count)), tmp_path / "unplaced.dcm", no_positions), caplog)
    assert image.GetSize()[2] == count
    assert "cannot be checked" in warnings


@pytest.mark.parametrize("suffix", [".seg.dcm", ".rtstruct.dcm"])
def test_dicom_objects_from_a_multi_frame_file_are_refused(multiframe, small_threshold_model, tmp_path, capsys,
                                                          suffix):
    from saltseg.cli import main

    folder = tmp_path / "study"
    folder.mkdir()
    _write(multiframe, list(range(int(multiframe.NumberOfFrames))), folder / "ct.dcm")
    output = tmp_path / f"out{suffix}"
    assert main(["segment", str(folder), "-o", str(output), "--model", str(small_threshold_model),
                 "--device", "cpu", "--quiet"]) == 1
    assert "holds 20 frames" in capsys.readouterr().err
    assert not output.exists()
