"""Batch inputs and bookkeeping without a cluster: case discovery, CSV lists, the resume rule."""
from __future__ import annotations

import argparse

import pytest

from batch_support import copy_series, write_corrupt_nifti
from saltseg.batch.cases import discover_cases
from saltseg.batch.manifest import CaseRecord, finished_problem, read_manifest, sha256_of, write_manifest
from saltseg.cli.segment_options import add_segment_options, segment_options_from_args
from saltseg.errors import InputImageError

import SimpleITK as sitk
import numpy as np


def _tiny_ct(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.full((3, 4, 4), -1000, np.int16)), str(path))
    return path


def test_folders_are_searched_recursively_one_case_per_file_and_series(tmp_path, shared_data):
    root = tmp_path / "cohort"
    _tiny_ct(root / "a.nii.gz")
    _tiny_ct(root / "site" / "b.nrrd")
    _tiny_ct(root / "site" / "deeper" / "c.mha")
    (root / "site" / "notes.txt").write_text("not a CT")
    (root / "site" / "old.seg.nrrd").write_text("an earlier result, not a CT")
    copy_series(shared_data / "example_ct_dicom", root / "patient7" / "ct")
    outdir = root / "results"  # an output folder inside the input folder is not searched
    _tiny_ct(outdir / "a.nii.gz")

    cases = {case.name: case for case in discover_cases([root], exclude=outdir)}

    assert sorted(cases) == ["a", "patient7/ct", "site/b", "site/deeper/c"]
    series = cases["patient7/ct"]
    assert series.is_dicom and len(series.dicom_files) == 20
    assert series.input == str(root / "patient7" / "ct")
    assert not cases["a"].is_dicom


def test_csv_list_names_cases_and_resolves_relative_paths(tmp_path, shared_data):
    _tiny_ct(tmp_path / "data" / "x.nii.gz")
    copy_series(shared_data / "example_ct_dicom", tmp_path / "data" / "dicom")
    listing = tmp_path / "lists" / "cohort.csv"
    listing.parent.mkdir()
    listing.write_text("input,case\n../data/x.nii.gz,subject-001\n../data/dicom,subject-002/ct\n")

    cases = discover_cases([listing])

    assert [(c.name, c.is_dicom) for c in cases] == [("subject-001", False), ("subject-002/ct", True)]


@pytest.mark.parametrize("content, message", [
    ("path\nx.nii.gz\n", "'input' column"),
    ("input,case\nx.nii.gz,../escape\n", "without '..'"),
    ("input\nmissing.nii.gz\n", "does not exist"),
])
def test_bad_case_lists_say_what_is_wrong(tmp_path, content, message):
    _tiny_ct(tmp_path / "x.nii.gz")
    listing = tmp_path / "list.csv"
    listing.write_text(content)
    with pytest.raises(InputImageError, match=message):
        discover_cases([listing])


def test_two_inputs_with_one_output_name_are_refused(tmp_path):
    first, second = _tiny_ct(tmp_path / "a" / "ct.nii.gz"), _tiny_ct(tmp_path / "b" / "ct.nii.gz")
    with pytest.raises(InputImageError, match="both be written as case 'ct'"):
        discover_cases([first, second])


def test_an_explicitly_named_corrupt_file_is_still_a_case(tmp_path):
    broken = write_corrupt_nifti(tmp_path / "broken.nii.gz")
    assert [case.name for case in discover_cases([broken])] == ["broken"]


def _done_record(outdir, output="c.seg.nrrd", fingerprint="1:10:5"):
    path = outdir / output
    path.write_bytes(b"result")
    return CaseRecord("c", "in", output, "done", model="m", output_bytes=path.stat().st_size,
                      output_sha256=sha256_of(path), input_fingerprint=fingerprint)


def test_a_finished_case_is_recognised_and_any_change_makes_it_run_again(tmp_path):
    record = _done_record(tmp_path)
    assert finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:10:5") is None
    assert finished_problem(None, tmp_path, "c.seg.nrrd", "m", "1:10:5") == "not run before"
    assert "model" in finished_problem(record, tmp_path, "c.seg.nrrd", "other", "1:10:5")
    assert "input changed" in finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:11:5")
    assert "requested" in finished_problem(record, tmp_path, "c.nii.gz", "m", "1:10:5")
    (tmp_path / "c.seg.nrrd").write_bytes(b"RESULT")  # same size, other bytes
    assert "checksum" in finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:10:5")
    (tmp_path / "c.seg.nrrd").unlink()
    assert "missing" in finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:10:5")
    failed = CaseRecord("c", "in", "c.seg.nrrd", "failed", error="bad")
    assert finished_problem(failed, tmp_path, "c.seg.nrrd", "", "") == "status failed"


def test_other_segment_options_make_a_finished_case_run_again(tmp_path):
    from saltseg.batch.worker import CaseSettings
    from saltseg.inference.pipeline import SegmentOptions

    # run_batch resolves the window placement to the model's (saltseg.batch.runner.with_model_placement)
    default = CaseSettings(str(tmp_path), "model_dir", "m", options=SegmentOptions(window_placement="salt"))
    record = _done_record(tmp_path)
    record.options = default.options_signature
    assert "window_placement=salt" in record.options and "overlap=0.5" in record.options
    assert finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:10:5", default.options_signature) is None
    # The batch size cannot change labels: nothing to redo.
    bigger_batches = CaseSettings(str(tmp_path), "model_dir", "m",
                                  options=SegmentOptions(batch_size=8, window_placement="salt"))
    assert bigger_batches.options_signature == default.options_signature
    # --fast can: every case made without it is segmented again.
    fast = CaseSettings(str(tmp_path), "model_dir", "m", options=SegmentOptions.fast())
    assert "other segment options" in finished_problem(record, tmp_path, "c.seg.nrrd", "m", "1:10:5",
                                                       fast.options_signature)


def test_manifest_round_trips_and_is_written_whole(tmp_path):
    records = [_done_record(tmp_path), CaseRecord("a", "in, with comma", "a.seg.nrrd", "failed",
                                                  error='cannot read "a": truncated\nsecond line', seconds=1.25)]
    write_manifest(tmp_path, records)
    assert list(read_manifest(tmp_path)) == ["a", "c"]
    assert read_manifest(tmp_path)["a"] == records[1]
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_segment_options_parse_like_segment():
    parser = argparse.ArgumentParser()
    add_segment_options(parser)
    options = segment_options_from_args(parser.parse_args(["--overlap", "0.25", "--batch-size", "4",
                                                           "--no-largest-component"]))
    assert (options.overlap, options.batch_size, options.largest_component, options.mixed_precision) == \
        (0.25, 4, False, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--overlap", "1.0"])
