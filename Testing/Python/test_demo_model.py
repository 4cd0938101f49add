"""The demonstration model that ships in the package: official format, catalogue entry, record of
how it was trained, and the accuracy bar on held-out phantoms in different file orientations."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from saltseg.model.model_io import load_model
from saltseg.models import Registry, resolve_model_dir
from saltseg.models.catalog import DEMO_MODEL_ID
from saltseg.phantom import phantom_tree
from test_models_helpers import isolated_home  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def demo_dir():
    entry = Registry().entry(DEMO_MODEL_ID)
    if not (entry.bundled_dir / "model.pt").is_file():
        pytest.fail(f"the demo model is missing from {entry.bundled_dir}")
    return entry.bundled_dir


@pytest.fixture(scope="module")
def record(demo_dir) -> dict:
    return json.loads((demo_dir / "training.json").read_text())


def test_demo_model_is_a_bundled_catalogue_model_in_the_official_format(demo_dir, isolated_home):
    entry = Registry().entry(DEMO_MODEL_ID)
    assert entry.bundled and "not for clinical use" in entry.title.lower()
    assert resolve_model_dir(DEMO_MODEL_ID) == demo_dir  # no download, no install
    assert Registry().download(DEMO_MODEL_ID) == demo_dir
    for item in entry.files:  # the catalogue describes exactly the shipped files
        data = (demo_dir / item.name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (item.size, item.sha256)
    model = load_model(demo_dir, "cpu")
    assert model.tree == phantom_tree()
    assert list(model.config.roi_size) == list(entry.roi_size)
    assert (demo_dir / "model.pt").stat().st_size < 6 * 1024 * 1024


def test_training_record_gives_recipe_and_disjoint_seeds(record):
    assert "not for clinical use" in record["purpose"].lower()
    assert record["recipe"].count("saltseg train") >= 1 and "saltseg phantom" in record["recipe"]
    used = set(record["training_seeds"]) | set(record["validation_seeds"])
    assert not used & set(record["held_out"]["seeds"])
    assert record["held_out"]["mean_dice"] >= 0.90


@pytest.fixture(scope="module")
def held_out(demo_dir, record, tmp_path_factory):
    """Two held-out phantoms (seeds never used in training) stored in two file orientations,
    segmented as in Slicer: loaded into a real MRML scene as the phantom sample is (the volume names
    the demo model), sent by the module's Logic to a real engine process with the module's request
    (no window placement in it), scored on the labelmap the module imports."""
    import SimpleITK as sitk

    from saltseg.phantom import generate_phantom
    from saltseg.training.evaluate import DEFAULT_SPACING, CaseScore, Evaluation, score_phantom
    from slicer_test_support import install_scripted_module_shim, load_ct, new_scene

    install_scripted_module_shim()
    import SALTSegmentation
    from SALTSegmentationLib.scene.sample_data import SUGGESTED_MODEL_ATTRIBUTE

    seeds, orientations = [3001, 3002], ["RAS", "LPI"]
    assert not (set(record["training_seeds"]) | set(record["validation_seeds"])) & set(seeds)
    folder = tmp_path_factory.mktemp("held_out")
    logic = SALTSegmentation.SALTSegmentationLogic()
    evaluation, placements = Evaluation(), []
    try:
        for seed, orientation in zip(seeds, orientations):
            phantom = generate_phantom(seed, DEFAULT_SPACING, orientation)
            path = folder / f"phantom_{seed}.nii.gz"
            sitk.WriteImage(phantom.image, str(path))
            scene = new_scene()
            volume = load_ct(scene, path, name="SALTPhantom")
            volume.SetAttribute(SUGGESTED_MODEL_ATTRIBUTE, DEMO_MODEL_ID)
            logic.segment(volume, device="cpu")
            result = logic.currentJob.result
            # MRML stores the LPI file with its slice axis flipped (same voxels in space), so
            # compare on the phantom's grid: an exact nearest-neighbour copy, nothing interpolated.
            predicted = sitk.Resample(result.labelmap, phantom.labels, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
            placements.append(result.window_placement)
            leaf_dice, left_right = score_phantom(result.tree, phantom, predicted)
            evaluation.cases.append(CaseScore(seed, phantom.info, leaf_dice, float(np.mean(list(leaf_dice.values()))),
                                              left_right, 0.0))
    finally:
        logic.shutdownEngine()
    # The model's own inference.json: flush, the placement it was trained and scored with. SALT's
    # placement pads the phantoms' long axis with air the model never saw in training and scores
    # 0.8875 on these two (0.9161 flush), below the bar.
    assert placements == ["flush", "flush"]
    return evaluation


def test_demo_model_reaches_the_bar_on_held_out_phantoms(held_out):
    """The issue's bar: mean Dice ≥ 0.90 over the leaves present, no left/right confusion (no more
    than 1 % of a structure labelled as its other-side twin)."""
    assert held_out.left_right_confusions == 0, [c.left_right for c in held_out.cases]
    assert held_out.mean_dice >= 0.90, held_out.per_leaf()
