"""The structure chooser before Segment (Qt-free): check states, what it hands to
``logic.segment(structures=...)``, and the controller refusing an empty choice; the chosen names
resolve in the engine's tree, also in another model's tree with the same node names."""
from __future__ import annotations

import sys


import slicer_test_support  # noqa: F401  (path set-up)
from saltseg.analysis.subsets import resolve_structures
from saltseg.phantom.tree import phantom_tree
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.scene.tree_model import CheckState
from SALTSegmentationLib.widgets.controller import ModuleController, RunSettings
from SALTSegmentationLib.widgets.structure_chooser import StructureChoice
from controller_support import Probe, RecordingView, ScriptedLogic


def test_everything_is_chosen_by_default(salt_tree):
    choice = StructureChoice(salt_tree)
    assert choice.structures() is None and choice.summary() == "All structures"
    assert "background" not in {salt_tree.node_id(n) for n in choice.nodes(None)}


def test_checking_nodes_gives_the_largest_checked_subtrees(salt_tree):
    choice = StructureChoice(salt_tree)
    choice.set_all(False)
    assert choice.structures() == [] and choice.summary() == "No structure chosen"
    kidneys = salt_tree.index("body,abdominal_cavity,kidneys")
    choice.set_checked(kidneys, True)
    choice.set_checked(salt_tree.index("body,bones,spine,lumbar_spine,vertebrae_L1"), True)
    assert choice.check_state(salt_tree.index("body,abdominal_cavity")) == CheckState.PARTIAL
    assert choice.check_state(kidneys) == CheckState.CHECKED
    assert choice.structures() == ["kidneys", "vertebrae_L1"]
    choice.set_checked(salt_tree.index("body,abdominal_cavity,kidneys,kidney_left"), False)
    assert choice.structures() == ["kidney_right", "vertebrae_L1"]
    # A name that is not unique in the tree is given as its path.
    choice.set_all(False)
    choice.set_checked(salt_tree.index("body,muscles,other"), True)
    assert choice.structures() == ["body,muscles,other"]
    assert [salt_tree.node_id(n) for n in resolve_structures(salt_tree, choice.structures())] == ["body,muscles,other"]
    choice.choose(["spine", "kidneys"])
    leaves = len(salt_tree.subtree_label_values("body,abdominal_cavity,kidneys")) + len(
        salt_tree.subtree_label_values("body,bones,spine"))
    assert choice.structures() == ["kidneys", "spine"]
    assert choice.summary() == f"{leaves} structures: Kidneys, Spine"


def test_names_chosen_on_the_published_tree_resolve_in_the_demo_models_tree(salt_tree):
    choice = StructureChoice(salt_tree)
    choice.choose(["kidneys", "spine", "liver"])
    demo = phantom_tree()
    assert [demo.node_id(n) for n in resolve_structures(demo, choice.structures())] == [
        "body,abdominal_cavity,kidneys", "body,abdominal_cavity,liver", "body,bones,spine"]


class ChoosingView(RecordingView):
    structures = None

    def run_settings(self):
        return RunSettings(self.volume, None, "m", self.device, {}, self.structures)


class SubsetLogic(ScriptedLogic):
    def segment(self, volume, segmentation, model, device, wait, progress, options, onFinished, structures=None):
        self.structures = structures
        return super().segment(volume, segmentation, model, device, wait, progress, options, onFinished)


def test_the_controller_passes_the_choice_and_refuses_an_empty_one():
    view, logic = ChoosingView(), SubsetLogic()
    ctl = ModuleController(view, logic, sys.executable, SubprocessRunner, Probe())
    view.structures = []
    ctl.on_segment_clicked()
    assert "check at least one" in view.errors[-1] and not logic.jobs
    view.structures = ["kidneys", "spine"]
    ctl.on_segment_clicked()
    assert logic.structures == ["kidneys", "spine"] and len(logic.jobs) == 1
