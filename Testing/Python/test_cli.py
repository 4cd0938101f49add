"""The saltseg command line: real files in, real files out, exit code 0 only on success."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from saltseg.cli import main
from saltseg.io.writers import HEADER_TREE, TAG_LABEL_VALUE, TAG_TREE_PATH
from test_models_helpers import isolated_home  # noqa: F401  (fixture)


def test_segment_to_seg_nrrd_for_slicer(tmp_path, shared_data, salt_threshold_model, salt_tree, capsys):
    output = tmp_path / "ct.seg.nrrd"
    code = main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output),
                 "--model", str(salt_threshold_model), "--device", "cpu", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == str(output)
    segmentation = slicerio.read_segmentation(str(output))
    ct = sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))
    # Same grid as the input: voxels, spacing, origin and direction (LPS).
    assert segmentation["voxels"].shape == ct.GetSize()
    ijk_to_lps = np.asarray(segmentation["ijkToLPS"])
    assert np.allclose(ijk_to_lps[:3, 3], ct.GetOrigin())
    assert np.allclose(ijk_to_lps[:3, :3], np.asarray(ct.GetDirection()).reshape(3, 3) * ct.GetSpacing())
    by_path = {s["tags"][TAG_TREE_PATH]: s for s in segmentation["segments"]}
    bone = by_path["body,bones,other"]
    assert bone["name"] == "Other (bones)" and bone["labelValue"] == salt_tree.label_value("body,bones,other")
    assert int(bone["tags"][TAG_LABEL_VALUE]) == bone["labelValue"] and len(bone["color"]) == 3
    assert (segmentation["voxels"] == bone["labelValue"]).any()
    assert "background" not in by_path
    header_tree = segmentation.get(HEADER_TREE)
    assert header_tree and json.loads(header_tree)["format"] == "saltseg-label-tree"


def test_segment_to_labelmap_with_label_table(tmp_path, shared_data, salt_threshold_model, salt_tree):
    output = tmp_path / "labels.nii.gz"
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output),
                 "--model", str(salt_threshold_model), "--quiet", "--overlap", "0.25", "--batch-size", "4",
                 "--no-largest-component"]) == 0
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(output)))
    table = json.loads((tmp_path / "labels.labels.json").read_text())
    listed = {entry["value"]: entry for entry in table["labels"]}
    assert set(np.unique(labels)) - {0} == set(listed)
    assert listed[salt_tree.label_value("body,bones,other")]["path"] == ["body", "bones", "other"]
    assert table["tree"]["format"] == "saltseg-label-tree"


@pytest.mark.parametrize("args, message", [
    (["segment", "{data}/nope.nii.gz", "-o", "{tmp}/x.seg.nrrd"], "does not exist"),
    (["segment", "{data}/example_ct_sm.nii.gz", "-o", "{tmp}/x.txt"], "cannot tell the output format"),
    (["segment", "{data}/example_ct_sm.nii.gz", "-o", "{tmp}/missing_folder/x.seg.nrrd"], "output folder"),
    (["segment", "{data}/example_ct_sm.nii.gz", "-o", "{tmp}/x.seg.nrrd", "--model", "{tmp}"], "has no model.pt"),
])
def test_errors_exit_non_zero_with_a_message_and_write_nothing(tmp_path, shared_data, salt_threshold_model,
                                                               capsys, args, message):
    argv = [a.format(data=shared_data, tmp=tmp_path) for a in args]
    if "--model" not in argv:
        argv += ["--model", str(salt_threshold_model)]
    assert main(argv + ["--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("saltseg: error:") and message in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_interrupted_run_leaves_no_output(tmp_path, shared_data, salt_threshold_model, monkeypatch, capsys):
    import saltseg.job.run as command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "segment_image", interrupted)
    output = tmp_path / "ct.seg.nrrd"
    code = main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output),
                 "--model", str(salt_threshold_model), "--quiet"])
    assert code == 130 and not list(tmp_path.iterdir())


def test_failed_write_leaves_no_partial_file(tmp_path, shared_data, salt_threshold_model, monkeypatch, capsys):
    import slicerio as module

    def crash(path, document, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"NRRD0004\npartial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "write_segmentation", crash)
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.seg.nrrd"),
                 "--model", str(salt_threshold_model), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"saltseg: error: cannot write {tmp_path / 'ct.seg.nrrd'}: No space left on device (nothing was written)"
    assert not list(tmp_path.iterdir())


def test_demo_segments_a_phantom_offline_with_the_bundled_model(tmp_path, isolated_home):
    completed = subprocess.run([sys.executable, "-m", "saltseg", "demo", "-o", str(tmp_path), "--quiet"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "not for clinical use" in completed.stderr
    assert "kidney_right→kidney_left" not in completed.stderr, completed.stderr
    assert "kidney_left→kidney_right" not in completed.stderr, completed.stderr
    # What the README's quick start promises the demo prints: the mean Dice, the three lowest, swaps.
    scores = [line for line in completed.stderr.splitlines() if line.startswith("against the phantom's own labels")]
    assert len(scores) == 1 and re.fullmatch(r"against the phantom's own labels: mean Dice 0\.\d{3} over \d+ "
                                             r"structures \(lowest: (.+ \d\.\d\d, ){2}.+ \d\.\d\d\); "
                                             r"left/right swaps: none", scores[0]), scores
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert ("prints the mean Dice over the structures against the phantom's own labels, the three lowest, and "
            "whether any left/right pair was swapped") in readme
    written = [Path(line) for line in completed.stdout.split()]
    assert [p.name for p in written] == ["phantom_03000.nii.gz", "phantom_03000_truth.nii.gz",
                                         "phantom_03000.seg.nrrd", "phantom_03000_preview.png"]
    segmentation = slicerio.read_segmentation(str(tmp_path / "phantom_03000.seg.nrrd"))
    names = {s["name"] for s in segmentation["segments"]}
    assert {"Liver", "Left kidney", "Right kidney", "Spleen"} <= names
    preview = sitk.ReadImage(str(tmp_path / "phantom_03000_preview.png"))
    assert preview.GetNumberOfComponentsPerPixel() == 3 and min(preview.GetSize()) >= 100


def test_demo_on_a_given_ct(tmp_path, shared_data, isolated_home):
    assert main(["demo", "-o", str(tmp_path), "--input", str(shared_data / "example_ct_sm.nii.gz"), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example_ct_sm.seg.nrrd", "example_ct_sm_preview.png"]


def test_union_mask_of_an_internal_node_on_request(tmp_path, shared_data, salt_threshold_model, salt_tree):
    output = tmp_path / "ct.nii.gz"
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output), "--quiet",
                 "--model", str(salt_threshold_model), "--mask", "body,bones", "--mask", "body"]) == 0
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(output)))
    bones = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct.body-bones.nii.gz")))
    assert np.array_equal(bones.astype(bool), np.isin(labels, salt_tree.subtree_label_values("body,bones")))
    body = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct.body.nii.gz")))
    assert np.array_equal(body.astype(bool), labels != 0)


def test_unknown_mask_node_is_an_error(tmp_path, shared_data, salt_threshold_model, capsys):
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "ct.nii.gz"),
                 "--quiet", "--model", str(salt_threshold_model), "--mask", "body,wings"]) == 1
    assert "no such node" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_segment_writes_a_png_preview_on_request(tmp_path, shared_data, salt_threshold_model):
    output = tmp_path / "ct.seg.nrrd"
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output), "--quiet",
                 "--model", str(salt_threshold_model), "--preview", str(tmp_path / "ct.png")]) == 0
    assert sitk.ReadImage(str(tmp_path / "ct.png")).GetNumberOfComponentsPerPixel() == 3
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "b.seg.nrrd"),
                 "--quiet", "--model", str(salt_threshold_model), "--preview", str(tmp_path / "b.jpg")]) == 1
    assert not (tmp_path / "b.seg.nrrd").exists()
