"""The module's parameter node keeps the user's choices with the scene (real MRML node)."""
from __future__ import annotations

import slicer_test_support  # noqa: F401  (puts the module folder on sys.path)
import slicer

from SALTSegmentationLib.scene.parameters import (BATCH_SIZE, OVERLAP, read_options, segment_options,
                                            set_default_parameters, write_options)


def test_defaults_are_filled_without_overwriting_choices():
    node = slicer.vtkMRMLScriptedModuleNode()
    node.SetParameter(OVERLAP, "0.25")
    set_default_parameters(node)
    options = read_options(node)
    assert options == {"model": None, "device": "auto", "overlap": 0.25, "batch_size": 2, "largest_component": True}


def test_round_trip_through_a_saved_scene(tmp_path):
    scene = slicer_test_support.new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "SALTSegmentation")
    set_default_parameters(node)
    write_options(node, "salt-foobar-31", "cpu", 0.75, 4, False)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    loaded = slicer.vtkMRMLScene()
    loaded.SetURL(str(tmp_path / "scene.mrml"))
    loaded.Import()
    restored = loaded.GetFirstNodeByName("SALTSegmentation")
    assert read_options(restored) == {"model": "salt-foobar-31", "device": "cpu", "overlap": 0.75,
                                      "batch_size": 4, "largest_component": False}
    assert segment_options(restored) == {"overlap": 0.75, "batch_size": 4, "largest_component": False}


def test_bad_stored_values_fall_back_to_safe_ones():
    node = slicer.vtkMRMLScriptedModuleNode()
    set_default_parameters(node)
    node.SetParameter(OVERLAP, "lots")
    node.SetParameter(BATCH_SIZE, "0")
    options = read_options(node)
    assert options["overlap"] == 0.5 and options["batch_size"] == 1
