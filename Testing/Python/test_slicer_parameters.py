"""The module's parameter node keeps the user's choices with the scene (real MRML node)."""
from __future__ import annotations

import dataclasses

import pytest

import slicer_test_support  # noqa: F401  (puts the module folder on sys.path)
import slicer

from SALTSegmentationLib.scene.segment_arguments import engine_options
from SALTSegmentationLib.scene.parameters import (parameter_name, read_options, segment_options,
                                                  set_default_parameters, write_options)
from saltseg.errors import OptionError
from saltseg.inference.options import SegmentOptions

OVERLAP, BATCH_SIZE = parameter_name("overlap"), parameter_name("batch_size")
DEFAULT_OPTIONS = dataclasses.asdict(SegmentOptions())


def test_defaults_are_filled_without_overwriting_choices():
    node = slicer.vtkMRMLScriptedModuleNode()
    node.SetParameter(OVERLAP, "0.25")
    set_default_parameters(node)
    options = read_options(node)
    assert options == {"model": None, "device": "auto", **DEFAULT_OPTIONS, "overlap": 0.25}


def test_round_trip_through_a_saved_scene(tmp_path):
    scene = slicer_test_support.new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "SALTSegmentation")
    set_default_parameters(node)
    write_options(node, "salt-foobar-31", "cpu", overlap=0.75, batch_size=4, largest_component=False,
                  skip_air=True, only=("spine",))
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    loaded = slicer.vtkMRMLScene()
    loaded.SetURL(str(tmp_path / "scene.mrml"))
    loaded.Import()
    restored = loaded.GetFirstNodeByName("SALTSegmentation")
    assert read_options(restored) == {**DEFAULT_OPTIONS, "model": "salt-foobar-31", "device": "cpu", "overlap": 0.75,
                                      "batch_size": 4, "largest_component": False, "skip_air": True, "only": ("spine",)}
    assert segment_options(restored) == {"overlap": 0.75, "batch_size": 4, "largest_component": False,
                                         "skip_air": True, "only": ("spine",)}


def test_a_hand_edited_bad_value_falls_back_to_the_engines_default(caplog):
    node = slicer.vtkMRMLScriptedModuleNode()
    set_default_parameters(node)
    node.SetParameter(OVERLAP, "lots")
    node.SetParameter(BATCH_SIZE, "0")
    options = read_options(node)
    assert options["overlap"] == 0.5
    assert options["batch_size"] == 2
    assert "parameter BatchSize: option 'batch_size' must be a whole number at least 1, got 0" in caplog.text


def test_the_scene_never_stores_a_value_the_engine_refuses():
    node = slicer.vtkMRMLScriptedModuleNode()
    with pytest.raises(OptionError, match="option 'overlap' must be a finite number in"):
        write_options(node, None, "auto", overlap=float("nan"))


def test_console_takes_the_engines_option_names():
    assert engine_options({"skip_air": True, "overlap": 0.3}) == {"skip_air": True, "overlap": 0.3}


def test_console_refuses_what_the_engine_refuses():
    with pytest.raises(OptionError, match="option 'air_threshold_hu' must be a finite number"):
        engine_options({"air_threshold_hu": float("nan")})


def test_console_takes_the_options_object_itself():
    assert engine_options(SegmentOptions.fast())["skip_air"] is True


def test_console_outputs_take_one_mask_name_as_one_mask():
    from SALTSegmentationLib.scene.segment_arguments import job_outputs

    assert job_outputs({"output": "ct.seg.nrrd", "masks": "body,bones"})["masks"] == ("body,bones",)


def test_console_outputs_refuse_a_field_the_logic_sets_itself():
    from SALTSegmentationLib.scene.segment_arguments import job_outputs

    with pytest.raises(ValueError, match="unknown output.s. input; segment.outputs=.... takes output, format"):
        job_outputs({"input": "other.nrrd"})
