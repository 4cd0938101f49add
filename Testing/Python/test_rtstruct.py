"""RT Structure Set output on the shared DICOM series: ``segment --format rtstruct`` writes one ROI
per structure (readable name, tree colour, tree path as description) referencing the series, and
the contours round-trip: read back and rasterised on the CT grid, every structure comes back.
Needs the optional ``rtstruct`` extra (rt-utils); skipped without it."""
from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from batch_support import copy_series_with_uids
from saltseg.cli import main
from saltseg.errors import OutputError
from saltseg.inference.pipeline import SegmentOptions, segment_image
from saltseg.io.image_io import read_image
from saltseg.io.rtstruct import largest_series_files, read_rtstruct_masks
from saltseg.model.model_io import load_model

MIN_DICE = 0.97
needs_rt_utils = pytest.mark.skipif(importlib.util.find_spec("rt_utils") is None,
                                    reason="the rtstruct extra (rt-utils) is not installed")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / float(np.count_nonzero(a) + np.count_nonzero(b))


@pytest.fixture(scope="module")
def written(shared_data, salt_threshold_model, tmp_path_factory):
    # The shared series is anonymised down to empty UIDs; restore what a PACS copy would carry.
    folder = tmp_path_factory.mktemp("rtstruct")
    series = folder / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", series)
    output = folder / "ct.rtstruct.dcm"
    assert main(["segment", str(series), "-o", str(output), "--format", "rtstruct", "--model",
                 str(salt_threshold_model), "--device", "cpu", "--quiet"]) == 0
    model = load_model(salt_threshold_model, "cpu")
    result = segment_image(read_image(series), model, SegmentOptions())
    return series, output, result


@needs_rt_utils
def test_rtstruct_references_the_series_and_names_every_structure(written):
    series, output, result = written
    dataset = pydicom.dcmread(output)
    assert dataset.Modality == "RTSTRUCT"
    source = pydicom.dcmread(largest_series_files(series)[0], stop_before_pixels=True)
    referenced = dataset.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0] \
        .RTReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert dataset.StudyInstanceUID == source.StudyInstanceUID
    rois = {roi.ROINumber: roi for roi in dataset.StructureSetROISequence}
    entries = {entry.name: entry for entry in result.label_table()}
    assert {roi.ROIName for roi in rois.values()} == set(entries)
    for contour in dataset.ROIContourSequence:
        roi = rois[contour.ReferencedROINumber]
        entry = entries[roi.ROIName]
        assert roi.ROIDescription == entry.node_id  # the tree path maps the ROI back to the tree
        assert [int(c) for c in contour.ROIDisplayColor] == [int(round(255 * c)) for c in entry.color]


@needs_rt_utils
def test_contours_round_trip_on_the_ct_grid(written):
    series, output, result = written
    masks = read_rtstruct_masks(largest_series_files(series), output)
    labels = sitk.GetArrayViewFromImage(result.labelmap)  # (slices, rows, cols), slices ascending
    scores = {}
    for entry in result.label_table():
        truth = labels == entry.value
        back = np.moveaxis(masks[entry.name], -1, 0)  # rt-utils: (rows, cols, slices), same order
        scores[entry.name] = dice(truth, back)
    print("RT Structure Set round trip, Dice per structure:", scores)
    assert len(scores) >= 3 and min(scores.values()) >= MIN_DICE, scores


@needs_rt_utils
def test_rtstruct_needs_a_dicom_series_and_a_dcm_name(shared_data, salt_threshold_model, tmp_path, capsys):
    image_file = shared_data / "example_ct_sm.nii.gz"
    assert main(["segment", str(image_file), "-o", str(tmp_path / "x.rtstruct.dcm"), "--format", "rtstruct",
                 "--model", str(salt_threshold_model), "--quiet"]) == 1
    assert "not a DICOM series folder" in capsys.readouterr().err
    assert main(["segment", str(shared_data / "example_ct_dicom"), "-o", str(tmp_path / "x.seg.nrrd"),
                 "--format", "rtstruct", "--model", str(salt_threshold_model), "--quiet"]) == 1
    assert "name the output *.rtstruct.dcm" in capsys.readouterr().err
    # The shared series lost its UIDs to anonymisation: refused before any segmenting.
    assert main(["segment", str(shared_data / "example_ct_dicom"), "-o", str(tmp_path / "x.rtstruct.dcm"),
                 "--format", "rtstruct", "--model", str(salt_threshold_model), "--quiet"]) == 1
    assert "has no StudyInstanceUID, SeriesInstanceUID (removed by anonymisation?)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_rt_utils_gives_the_install_hint(monkeypatch):
    import builtins

    from saltseg.io import rtstruct

    real_import = builtins.__import__

    def no_rt_utils(name, *args, **kwargs):
        if name.startswith("rt_utils"):
            raise ImportError("No module named 'rt_utils'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rt_utils)
    with pytest.raises(OutputError, match=r"pip install 'saltseg\[rtstruct\]'"):
        rtstruct.require_rt_utils()


@needs_rt_utils
def test_batch_case_writes_an_rtstruct_and_refuses_an_anonymised_series(written, shared_data, salt_threshold_model,
                                                                         tmp_path):
    from saltseg.batch.cases import discover_cases
    from saltseg.batch.worker import CaseSettings, run_case

    series, _, result = written
    (case,) = discover_cases([series])
    settings = CaseSettings(str(tmp_path / "out"), str(salt_threshold_model), "threshold", "cpu", "rtstruct")
    outcome = run_case(case, settings)
    assert outcome.record.status == "done", outcome.record.error
    output = tmp_path / "out" / outcome.record.output
    assert output.name == "series.rtstruct.dcm"
    assert set(read_rtstruct_masks(case.dicom_files, output)) == {entry.name for entry in result.label_table()}
    (anonymised,) = discover_cases([shared_data / "example_ct_dicom"])
    failed = run_case(anonymised, settings).record
    assert failed.status == "failed" and "cannot reference it" in failed.error


@needs_rt_utils
def test_pydicom_notices_during_the_write_stay_off_the_terminal(written, tmp_path, caplog):
    from saltseg.io.rtstruct import write_rtstruct

    series, _, result = written
    caplog.set_level(logging.DEBUG, logger="saltseg")
    write_rtstruct(result.labelmap, result.tree, largest_series_files(series), tmp_path / "ct.rtstruct.dcm")
    shown = [record.getMessage() for record in caplog.records
             if record.name == "pydicom" and record.levelno >= logging.WARNING]
    assert shown == []
    kept = [record.getMessage() for record in caplog.records
            if record.name == "saltseg.io.rtstruct" and record.levelno == logging.DEBUG]
    assert any("WARNING pydicom: " in message for message in kept), kept  # demoted, not lost


def test_library_errors_still_reach_the_terminal_while_notices_are_demoted(caplog):
    from saltseg.io.library_logs import library_logs_at_debug

    ours = logging.getLogger("saltseg.io.rtstruct")
    with library_logs_at_debug(ours, "pydicom"):
        logging.getLogger("pydicom").warning("'X' will be removed in v4.0")
        logging.getLogger("pydicom").error("cannot write the file: disk full")
    assert [(r.name, r.levelname) for r in caplog.records if r.name == "pydicom"] == [("pydicom", "ERROR")]
