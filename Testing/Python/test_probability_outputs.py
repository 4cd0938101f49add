"""Probability maps as files: asked for on the command line, in a job or a service request; named
after the output; a scale every reader understands; checked before any work; all or nothing."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from cli_support import folder_contents, run_saltseg
from probability_support import probability_model  # noqa: F401  (fixture)
from saltseg.cli import main
from saltseg.errors import RequestError
from saltseg.inference.options import SegmentOptions
from saltseg.job.description import SegmentJob, job_from_request
from saltseg.job.run import run_job
from saltseg.service.protocol import DONE
from saltseg.service.request_schema import request_schema
from saltseg.service.server import LoadedModel, segment_request

MAPS = ["body", "body,soft_tissue,muscle"]


def options(model: Path) -> list[str]:
    return ["--model", str(model), "--device", "cpu", "--backend", "torch", "--precision", "fp32", "--quiet"]


@pytest.fixture(scope="module")
def ct_file(shared_data, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "ct.nii.gz"
    shutil.copyfile(shared_data / "example_ct_sm.nii.gz", path)
    return path


@pytest.fixture(scope="module")
def written(ct_file, probability_model, tmp_path_factory) -> Path:
    """``saltseg segment`` with two maps, the confidence and statistics."""
    folder = tmp_path_factory.mktemp("maps")
    assert main(["segment", str(ct_file), "-o", str(folder / "ct.seg.nrrd"), "--probabilities", *MAPS,
                 "--confidence", "--statistics", str(folder / "stats.csv"), *options(probability_model)]) == 0
    return folder


def test_maps_are_named_after_the_output(written):
    assert sorted(path.name for path in written.iterdir()) == [
        "ct.confidence.nii.gz", "ct.prob.body-soft_tissue-muscle.nii.gz", "ct.prob.body.nii.gz", "ct.seg.nrrd",
        "stats.csv"]


def test_uint8_map_reads_as_probabilities_in_itk(written):
    """scl_slope 1/255 in the header: ITK (and so 3D Slicer) reads 0-1, not 0-255."""
    values = sitk.GetArrayFromImage(sitk.ReadImage(str(written / "ct.prob.body.nii.gz")))
    assert 0.0 <= values.min() and values.max() <= 1.0 and values.max() > 0.5


def test_uint8_map_stores_bytes_with_its_scale_in_the_header(written):
    image = nibabel.load(str(written / "ct.prob.body.nii.gz"))
    assert (image.get_data_dtype(), image.dataobj.slope, image.header["descrip"].item().decode()[:30]) == (
        np.dtype(np.uint8), np.float32(1 / 255), "SALT probability = value/255: ")


def test_map_lies_on_the_input_grid(written, ct_file):
    ct = sitk.ReadImage(str(ct_file))
    stored = sitk.ReadImage(str(written / "ct.confidence.nii.gz"))
    assert (stored.GetSize(), stored.GetOrigin(), stored.GetDirection()) == (ct.GetSize(), ct.GetOrigin(),
                                                                            ct.GetDirection())


def test_statistics_gain_mean_probability_and_uncertain_volume(written):
    with open(written / "stats.csv", newline="") as handle:
        rows = {row["node"]: row for row in csv.DictReader(handle)}
    body = rows["body"]
    assert float(body["mean_probability"]) > 0.3 and float(body["uncertain_ml"]) > 0.0


def test_float_maps_are_float32_nrrd(ct_file, probability_model, tmp_path):
    assert main(["segment", str(ct_file), "-o", str(tmp_path / "ct.nii.gz"), "--probabilities", "body",
                 "--probabilities-dtype", "float", *options(probability_model)]) == 0
    stored = sitk.ReadImage(str(tmp_path / "ct.prob.body.nrrd"))
    assert stored.GetPixelID() == sitk.sitkFloat32


def test_unknown_node_fails_before_any_work_with_close_names(ct_file, probability_model, tmp_path, capsys):
    code = main(["segment", str(ct_file), "-o", str(tmp_path / "ct.seg.nrrd"), "--probabilities", "body,bones",
                 *options(probability_model)])
    assert (code, capsys.readouterr().err.strip().splitlines()[-1], folder_contents(tmp_path)) == (
        1, "saltseg: error: --probabilities 'body,bones': no structure 'body,bones' in the label tree; did you mean "
           "'body,bone'?", {})


def test_disk_full_while_writing_a_map_leaves_nothing(ct_file, probability_model, tmp_path):
    """The main output fits under the limit, the first map's uncompressed NIfTI does not."""
    ct_voxels = sitk.ReadImage(str(ct_file)).GetNumberOfPixels()
    run = run_saltseg(["segment", ct_file, "-o", tmp_path / "ct.seg.nrrd", "--probabilities", "body",
                       *options(probability_model)], file_size_limit=ct_voxels // 2)
    assert (run.returncode, run.stderr.strip().splitlines()[-1], folder_contents(tmp_path)) == (
        1, f"saltseg: error: cannot write {tmp_path / 'ct.prob.body.nii.gz'}: File too large; removed "
           "ct.seg.nrrd, written before it, so nothing was written", {})


def test_labelmap_only_job_names_maps_after_the_labelmap(ct_file, probability_model, tmp_path):
    """The Slicer module's transfer: no output, only its labelmap; the maps go beside that."""
    job = SegmentJob(input=ct_file, labelmap=tmp_path / "result.nrrd", model=str(probability_model), device="cpu",
                     options=SegmentOptions(backend="torch", precision="fp32"), probabilities=("body",),
                     confidence=True)
    outcome = run_job(job)
    assert (outcome.probability_maps, outcome.confidence_map) == (
        {"body": tmp_path / "result.prob.body.nii.gz"}, tmp_path / "result.confidence.nii.gz")


def test_service_done_event_names_the_maps(ct_file, probability_model, tmp_path):
    events = []
    job = job_from_request({"op": "segment", "input": str(ct_file), "labelmap": str(tmp_path / "result.nrrd"),
                            "model": str(probability_model), "device": "cpu",
                            "options": {"backend": "torch", "precision": "fp32"},
                            "probabilities": ["muscle"], "confidence": True})
    segment_request(job, LoadedModel(), lambda event, **fields: events.append((event, fields)))
    done = next(fields for event, fields in events if event == DONE)
    assert (done["probability_maps"], done["confidence_map"]) == (
        {"body,soft_tissue,muscle": str(tmp_path / "result.prob.body-soft_tissue-muscle.nii.gz")},
        str(tmp_path / "result.confidence.nii.gz"))


def test_request_confidence_must_be_true_or_false():
    with pytest.raises(RequestError, match="'confidence' must be true or false or null, got a string"):
        job_from_request({"op": "segment", "input": "ct.nii.gz", "output": "ct.seg.nrrd", "confidence": "yes"})


def test_request_uncertain_below_must_be_a_probability():
    with pytest.raises(RequestError, match=r"'uncertain_below' must be in \(0, 1\], got 1.5"):
        job_from_request({"op": "segment", "input": "ct.nii.gz", "output": "ct.seg.nrrd", "uncertain_below": 1.5})


def test_job_round_trips_through_its_request():
    job = SegmentJob(input=Path("ct.nii.gz"), output=Path("ct.seg.nrrd"), probabilities=("body", "spine"),
                     probabilities_dtype="float", confidence=True, uncertain_below=0.7)
    assert job_from_request(json.loads(json.dumps(job.to_request()))) == job


def test_schema_accepts_the_request_the_job_writes():
    job = SegmentJob(input=Path("ct.nii.gz"), output=Path("ct.seg.nrrd"), probabilities=("body",), confidence=True)
    jsonschema.validate(job.to_request(), request_schema())


@pytest.mark.parametrize("field, value", [("confidence", "yes"), ("probabilities_dtype", "float16"),
                                          ("uncertain_below", 0), ("probabilities", "body")])
def test_schema_refuses_what_the_service_refuses(field, value):
    request = {"op": "segment", "input": "ct.nii.gz", "output": "ct.seg.nrrd", field: value}
    with pytest.raises(RequestError):
        job_from_request(request)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(request, request_schema())
