"""DICOM in and out, pixel by pixel: the CLI on a DICOM folder gives the labels of the series as
SimpleITK's ImageSeriesReader reads it, and every frame of a DICOM SEG holds the labelmap's slice
at the source image it names (ReferencedSOPInstanceUID) and sits where that image sits
(ImagePositionPatient) — also for a series whose files are listed in reverse slice order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import copy_series_with_uids
from saltseg.cli import main
from saltseg.inference.pipeline import SegmentOptions

pydicom = pytest.importorskip("pydicom")
OPTIONS = SegmentOptions(backend="torch")


def slice_position(path: Path) -> float:
    return float(pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient[2])


@pytest.fixture(scope="module", params=["slice-order", "reversed-order"])
def series(request, tmp_path_factory, shared_data) -> Path:
    """A copy of the shared series with its UIDs restored; in the second, the file names sort in
    the reverse of the slice order (what a folder listing gives the reader)."""
    folder = tmp_path_factory.mktemp(request.param) / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", folder)
    files = sorted(folder.iterdir(), key=slice_position)
    if request.param == "reversed-order":
        files = files[::-1]
    for i, path in enumerate(files):  # rename through a temporary name: names may collide
        path.rename(folder / f"tmp{i:03d}")
    for i in range(len(files)):
        (folder / f"tmp{i:03d}").rename(folder / f"image{i:03d}.dcm")
    return folder


def read_with_simpleitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.fixture(scope="module")
def reference(series, salt_threshold_model) -> sitk.Image:
    """The labels of the series as SimpleITK's ImageSeriesReader reads it (the Python API)."""
    from saltseg.inference.pipeline import segment_image
    from saltseg.model.model_io import load_model

    return segment_image(read_with_simpleitk(series), load_model(salt_threshold_model, "cpu"), OPTIONS).labelmap


def test_cli_labels_a_dicom_folder_as_the_series_is_read(tmp_path, series, reference, salt_threshold_model):
    output = tmp_path / "dicom.nrrd"
    assert main(["segment", str(series), "-o", str(output), "--model", str(salt_threshold_model),
                 "--backend", "torch", "--device", "cpu", "--quiet"]) == 0
    ours = sitk.ReadImage(str(output))
    for what in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(ours, what)(), getattr(reference, what)(), atol=1e-4, err_msg=what)
    labels = sitk.GetArrayFromImage(ours)
    assert len(np.unique(labels)) >= 3
    np.testing.assert_array_equal(labels, sitk.GetArrayFromImage(reference))


def test_dicom_seg_frames_hold_the_labelmap_at_the_images_they_reference(tmp_path, series, reference,
                                                                        salt_threshold_model, salt_tree):
    pytest.importorskip("highdicom")
    pytest.importorskip("distributed")
    from saltseg.batch.cases import discover_cases
    from saltseg.batch.worker import CaseSettings, run_case

    [case] = discover_cases([series])
    settings = CaseSettings(str(tmp_path), str(salt_threshold_model), "threshold", "cpu", "dicom-seg", OPTIONS)
    outcome = run_case(case, settings)
    assert outcome.record.status == "done", outcome.record.error
    labelmap = reference
    labels = sitk.GetArrayFromImage(labelmap)  # [k, j, i] on the series' grid
    sources = {}
    for path in series.iterdir():
        header = pydicom.dcmread(path, stop_before_pixels=True)
        sources[header.SOPInstanceUID] = np.asarray(header.ImagePositionPatient, dtype=float)

    seg = pydicom.dcmread(tmp_path / outcome.record.output)
    value_of_segment = {int(item.SegmentNumber): salt_tree.label_value(item.TrackingID) for item in seg.SegmentSequence}
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns).astype(bool)
    seen: dict[int, set[int]] = {}
    for frame, groups in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = groups.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = np.asarray(groups.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        np.testing.assert_allclose(position, sources[uid], atol=1e-3)  # the frame sits on its image
        k = labelmap.TransformPhysicalPointToIndex(tuple(position))[2]
        segment = int(groups.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        np.testing.assert_array_equal(frame, labels[k] == value_of_segment[segment], err_msg=f"{uid} segment {segment}")
        seen.setdefault(segment, set()).add(k)
    # Every segment's every non-empty slice has its frame (empty frames may be left out).
    for segment, value in value_of_segment.items():
        assert {k for k in range(labels.shape[0]) if (labels[k] == value).any()} <= seen[segment]
