"""Mean Dice is a mean over structures: the background leaf (Dice near 1 on any CT) is never scored
or averaged — not in the demo's printed figure, the phantom evaluation behind the README's
figures, nor the training's validation metric."""
from __future__ import annotations

import re

import pytest
import SimpleITK as sitk

from saltseg.cli import main
from saltseg.phantom import PHANTOM_LEAF_PATHS, generate_phantom, phantom_tree
from saltseg.training.evaluate import score_phantom
from saltseg.training.metrics import mean_leaf_dice
from test_models_helpers import isolated_home  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(3000)


def test_the_demo_averages_over_the_23_structures(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--quiet"]) == 0
    line = next(text for text in capsys.readouterr().err.splitlines()
                if text.startswith("against the phantom's own labels"))
    assert re.search(r"mean Dice 0\.\d{3} over 23 structures", line), line


def test_phantom_scores_name_the_structures_and_not_the_background(phantom):
    tree = phantom_tree()
    # A prediction that is right everywhere but in the liver, called spleen: the background,
    # were it scored, would lift the mean.
    truth = sitk.GetArrayFromImage(phantom.labels)
    predicted = truth.copy()
    predicted[truth == PHANTOM_LEAF_PATHS.index(("body", "abdominal_cavity", "liver"))] = \
        PHANTOM_LEAF_PATHS.index(("body", "abdominal_cavity", "spleen"))
    image = sitk.GetImageFromArray(predicted)
    image.CopyInformation(phantom.labels)
    leaf_dice, _ = score_phantom(tree, phantom, image)
    assert "background" not in leaf_dice
    assert len(leaf_dice) == 23
    assert leaf_dice["body,abdominal_cavity,liver"] == 0.0


def test_validation_mean_leaf_dice_leaves_out_the_background():
    tree = phantom_tree()
    dice = {"background": 1.0, "body,abdominal_cavity,liver": 0.5, "body,abdominal_cavity,spleen": 0.7}
    assert mean_leaf_dice(tree, dice) == pytest.approx(0.6)
    assert mean_leaf_dice(tree, dice, present=list(dice)) == pytest.approx(0.6)

