"""Nothing a user types loses data or wastes a run: outputs that are inputs are refused (also in a
batch), .mhd/.nhdr outputs are complete pairs, every output location is checked before the run,
an overwrite is said, and a busy batch folder says who holds it and for how long."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from batch_support import small_phantom
from saltseg.atomic import remove_stale_parts
from saltseg.cli import main
from saltseg.errors import OutputError
from saltseg.io.output_check import check_output_locations, refuse_outputs_on_inputs
from saltseg.models.errors import LockTimeoutError
from saltseg.models.lock import ProcessLock


@pytest.fixture()
def ct_file(tmp_path) -> Path:
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(small_phantom(3101), str(path), True)
    return path


def segment(*args, model) -> int:
    return main(["segment", *map(str, args), "--model", str(model), "--device", "cpu", "--quiet"])


def test_output_named_as_the_input_is_refused_and_the_ct_survives(ct_file, small_threshold_model, capsys):
    before = ct_file.read_bytes()
    assert segment(ct_file, "-o", ct_file, model=small_threshold_model) == 1
    assert "would destroy the input" in capsys.readouterr().err
    assert ct_file.read_bytes() == before and sorted(p.name for p in ct_file.parent.iterdir()) == ["ct.nii.gz"]


def test_output_through_a_symbolic_link_or_into_the_dicom_folder_is_refused(tmp_path, ct_file):
    (tmp_path / "alias.nii.gz").symlink_to(ct_file)
    with pytest.raises(OutputError, match="is the input"):
        refuse_outputs_on_inputs([tmp_path / "alias.nii.gz"], [ct_file])
    (tmp_path / "dicom").mkdir()
    with pytest.raises(OutputError, match="into the input DICOM folder"):
        refuse_outputs_on_inputs([tmp_path / "dicom" / ".." / "dicom" / "seg.nrrd"], [tmp_path / "dicom"])
    with pytest.raises(OutputError, match="two outputs are the same file"):
        refuse_outputs_on_inputs([tmp_path / "a.nii.gz", tmp_path / "." / "a.nii.gz"], [])
    refuse_outputs_on_inputs([tmp_path / "out" / "ct.nii.gz", tmp_path / "ct.seg.nrrd"], [ct_file, tmp_path / "dicom"])


def test_batch_whose_output_would_replace_an_input_is_refused_before_any_work(tmp_path, ct_file):
    pytest.importorskip("distributed")
    from saltseg.batch import run_batch

    other = tmp_path / "site2" / "ct2.nii.gz"
    other.parent.mkdir()
    sitk.WriteImage(small_phantom(3102), str(other), True)
    before = {path: path.read_bytes() for path in (ct_file, other)}
    # OUTDIR = the input folder with labelmap outputs: site2/ct2.nii.gz would overwrite its own input.
    with pytest.raises(OutputError, match=r"is the input .*ct2?\.nii\.gz"):
        run_batch([tmp_path], tmp_path, model="no-such-model-is-needed-first", output_format="nii.gz", progress=False)
    assert {path: path.read_bytes() for path in before} == before
    assert not (tmp_path / "manifest.csv").exists()


@pytest.mark.parametrize("suffix, data_name", [(".mhd", "ct.zraw"), (".nhdr", "ct.raw.gz")])
def test_detached_header_names_its_final_data_file_and_leaves_no_orphans(tmp_path, ct_file, small_threshold_model,
                                                                        capsys, suffix, data_name):
    out = tmp_path / "out"
    out.mkdir()
    output = out / f"ct{suffix}"
    for _ in range(2):  # a second run replaces the pair and leaves no second data file
        assert segment(ct_file, "-o", output, model=small_threshold_model) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted([output.name, data_name, "ct.labels.json"])
    header = output.read_text(errors="replace")
    assert f"ElementDataFile = {data_name}" in header or f"data file: {data_name}" in header
    labels = sitk.ReadImage(str(output))
    assert labels.GetSize() == small_phantom(3101).GetSize()
    assert np.unique(sitk.GetArrayViewFromImage(labels)).size > 1


def _write_detached(header: Path, data_name: str, seed: int) -> None:
    """A CT as a detached MetaImage whose header names ``data_name`` (as other tools write them)."""
    sitk.WriteImage(small_phantom(seed), str(header), False)
    written = header.with_suffix(".raw")
    if written.name != data_name:
        written.rename(header.with_name(data_name))
        header.write_text(header.read_text().replace(f"ElementDataFile = {written.name}",
                                                     f"ElementDataFile = {data_name}"))


@pytest.mark.parametrize("output_name, data_name", [("labels.mhd", "labels.zraw"), ("labels.nhdr", "labels.raw.gz")])
def test_output_whose_data_file_is_the_input_data_file_is_refused(tmp_path, small_threshold_model, capsys,
                                                                  output_name, data_name):
    # scan.mhd keeps its voxels where the output's header would put its (compressed) data: before
    # the check, that data file was replaced first and the CT's voxels were lost.
    scan = tmp_path / "scan.mhd"
    _write_detached(scan, data_name, 3103)
    before = (tmp_path / data_name).read_bytes()
    assert segment(scan, "-o", tmp_path / output_name, model=small_threshold_model) == 1
    error = capsys.readouterr().err
    assert f"{output_name}'s data file {data_name} is the input {scan}'s data file {data_name}" in error
    assert "nothing was written" in error
    assert (tmp_path / data_name).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([data_name, "scan.mhd"])
    # An uncompressed data file of that name is no collision for the CLI (it writes compressed).
    (tmp_path / "other.raw").write_bytes(b"")
    refuse_outputs_on_inputs([tmp_path / "other.mhd"], [tmp_path / "other.raw"])


def test_engine_service_refuses_an_output_whose_raw_data_file_is_the_input_data_file(tmp_path):
    from saltseg.service.requests import parse_request
    from saltseg.service.server import segment_request

    scan = tmp_path / "scan.mhd"
    _write_detached(scan, "labels.raw", 3106)  # the service writes uncompressed: labels.mhd → labels.raw
    # The labelmap a front end imports is written uncompressed: labels.mhd → labels.raw.
    request = parse_request(json.dumps({"op": "segment", "input": str(scan), "labelmap": str(tmp_path / "labels.mhd")}))
    with pytest.raises(OutputError, match=r"labels\.mhd's data file labels\.raw is the input"):
        segment_request(request, cache=None, emit=lambda *a, **k: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.raw", "scan.mhd"]


def test_output_header_onto_an_input_data_file_and_lists_of_slices_are_refused(tmp_path):
    scan = tmp_path / "scan.mhd"
    _write_detached(scan, "voxels.bin", 3104)
    with pytest.raises(OutputError, match=r"output .*voxels\.bin is the input .*scan\.mhd's data file voxels\.bin"):
        refuse_outputs_on_inputs([tmp_path / "voxels.bin"], [scan])
    (tmp_path / "slices.nhdr").write_text("NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 3\nencoding: raw\n"
                                          "data file: LIST 2\ns1.raw\nlabels.zraw\ns3.raw\n")
    with pytest.raises(OutputError, match=r"data file labels\.zraw is the input .*slices\.nhdr's data file"):
        refuse_outputs_on_inputs([tmp_path / "labels.mhd"], [tmp_path / "slices.nhdr"])
    (tmp_path / "pattern.mhd").write_text("NDims = 3\nElementDataFile = s%01d.raw.gz 1 3 1\n")
    with pytest.raises(OutputError, match=r"data file s2\.raw\.gz is the input .*pattern\.mhd's data file"):
        refuse_outputs_on_inputs([tmp_path / "s2.nhdr"], [tmp_path / "pattern.mhd"])
    refuse_outputs_on_inputs([tmp_path / "labels.mhd", tmp_path / "other.nhdr"], [scan, tmp_path / "pattern.mhd"])


def test_replacing_an_uncompressed_detached_output_removes_only_its_old_data_file(tmp_path, ct_file):
    from saltseg.io.writers import write_image_file

    output = tmp_path / "out" / "labels.mhd"
    output.parent.mkdir()
    image = sitk.Cast(small_phantom(3105) > 0, sitk.sitkUInt8)
    assert [p.name for p in write_image_file(image, output, compress=False)] == ["labels.mhd", "labels.raw"]
    (output.parent / "notes.raw").write_bytes(b"the user's")
    assert [p.name for p in write_image_file(image, output, compress=True)] == ["labels.mhd", "labels.zraw"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["labels.mhd", "labels.zraw", "notes.raw"]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(output))).sum() == sitk.GetArrayFromImage(image).sum()


def test_preview_folder_missing_is_found_before_the_run_not_after(tmp_path, ct_file, small_threshold_model, capsys):
    output = tmp_path / "ct.seg.nrrd"
    code = segment(ct_file, "-o", output, "--preview", tmp_path / "missing" / "ct.png", model=small_threshold_model)
    assert code == 1 and "output folder" in capsys.readouterr().err
    assert not output.exists()  # before the fix the main output was written, then the preview failed


def test_mask_outputs_and_free_space_are_checked(tmp_path):
    (tmp_path / "ct.body.nii.gz").mkdir()  # where --mask body would go
    with pytest.raises(OutputError, match=r"ct\.body\.nii\.gz is a folder"):
        check_output_locations([tmp_path / "ct.seg.nrrd", tmp_path / "ct.body.nii.gz"])
    with pytest.raises(OutputError, match=r"not enough free space in .*MB free, the outputs need up to"):
        check_output_locations([tmp_path / "ct.seg.nrrd"], voxels=10**16)  # 20 PB
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_locations([tmp_path / "file" / "ct.seg.nrrd"])
    assert check_output_locations([tmp_path / "file", tmp_path / "new.nii.gz"], voxels=1000) == [tmp_path / "file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.body.nii.gz", "file"]  # the write probe is gone


def test_overwriting_an_output_is_said(tmp_path, ct_file, small_threshold_model, capsys):
    output = tmp_path / "labels.nii.gz"
    assert segment(ct_file, "-o", output, model=small_threshold_model) == 0
    assert "replaced" not in capsys.readouterr().err
    assert segment(ct_file, "-o", output, model=small_threshold_model) == 0
    assert "replaced the existing labels.nii.gz, labels.labels.json" in capsys.readouterr().err


def test_stale_partial_files_of_our_naming_only_old_ones_are_removed(tmp_path):
    target = tmp_path / "ct.nii.gz"
    old, not_ours = tmp_path / ".ct.nii.gz.k1ll3d_0.part.nii.gz", tmp_path / ".ct.nii.gz.writing.part.nii.gz"
    folder = tmp_path / ".ct.nii.gz.abcd_123.part"  # a detached-format write (.mhd) in progress, killed
    other = tmp_path / ".ct.nii.gz.notes"
    for path in (old, not_ours, other):
        path.write_bytes(b"x")
    folder.mkdir()
    (folder / "ct.mhd").write_text("header")
    hour_ago = time.time() - 3600
    for path in (old, folder, other):
        os.utime(path, (hour_ago, hour_ago))
    os.utime(not_ours, (hour_ago, hour_ago))
    assert sorted(remove_stale_parts(target, older_than_s=600)) == sorted([old, folder])
    assert not_ours.exists() and other.exists()  # 'writing' is not our 8-character random part; not ours
    recent = tmp_path / ".ct.nii.gz.abcdefgh.part.nii.gz"
    recent.write_bytes(b"x")
    assert remove_stale_parts(target, older_than_s=600) == [] and recent.exists()


def test_busy_batch_folder_says_who_holds_it_and_for_how_long(tmp_path, ct_file):
    pytest.importorskip("distributed")
    from saltseg.batch import run_batch
    from saltseg.batch.output_folder import LOCK_FILE

    held = ProcessLock(tmp_path / "out" / LOCK_FILE)
    held.acquire()
    try:
        stamp = time.time() - 200
        (tmp_path / "out" / LOCK_FILE).write_text(f"{os.getpid()} {stamp}\n")  # as if held for 3 min 20 s
        with pytest.raises(LockTimeoutError) as raised:  # (the batch's own checks pass first)
            run_batch([ct_file], tmp_path / "out", model="salt-phantom-demo", progress=False)
    finally:
        held.release()
    message = str(raised.value)
    assert f"pid {os.getpid()}, running for 3 min" in message and "after 0 s" not in message
    assert "is working on the batch output folder" in message
