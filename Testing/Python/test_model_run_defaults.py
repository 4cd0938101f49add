"""A model carries the window placement it was certified with (``inference.json`` beside it), and
every front end — Python, ``saltseg segment``, ``saltseg demo``, the batch worker, the engine
service — runs it so when the user did not choose; an explicit choice still wins."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.batch.cases import Case
from saltseg.batch.runner import with_model_placement
from saltseg.batch.worker import CaseSettings, run_case
from saltseg.cli import main
from saltseg.cli.segment_options import add_segment_options, segment_options_from_args
from saltseg.errors import ModelError
from saltseg.inference.pipeline import SegmentOptions, segment_image
from saltseg.model.export import export_model
from saltseg.model.model_io import load_model
from saltseg.model.run_defaults import RUN_DEFAULTS_FILE, RunDefaults, read_run_defaults
from saltseg.models import Registry
from saltseg.models.catalog import DEMO_MODEL_ID
from saltseg.service.requests import parse_request
from saltseg.service.server import LoadedModel, segment_request
from test_models_helpers import isolated_home  # noqa: F401  (fixture)
from tree_networks import random_tree_network

ROI = (12, 12, 8)
SPACING = (4.0, 4.0, 4.0)
OPTIONS = {"largest_component": False, "backend": "torch"}


@pytest.fixture(scope="module")
def flush_model(tmp_path_factory, small_tree):
    """A random tree network (labels change with any window shift) certified with flush windows."""
    folder = tmp_path_factory.mktemp("flush_model")
    export_model(random_tree_network(small_tree, seed=7)[:-1], small_tree, folder, ROI, SPACING)  # logits
    (folder / RUN_DEFAULTS_FILE).write_text(json.dumps({"window_placement": "flush"}))
    return folder


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """29 slices on the model's grid: SALT's placement pads 3 slices of air, flush does not."""
    values = np.random.default_rng(7).uniform(-1024, 1024, size=(29, 12, 12)).astype(np.int16)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(SPACING)
    path = tmp_path_factory.mktemp("scan") / "ct.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def labels_by_placement(flush_model, scan):
    model = load_model(flush_model, "cpu")
    image = sitk.ReadImage(str(scan))
    found = {}
    for placement in ("salt", "flush", None):
        result = segment_image(image, model, SegmentOptions(window_placement=placement, **OPTIONS))
        found[placement] = (sitk.GetArrayFromImage(result.labelmap), result.stats["window_placement"])
    return found


def test_demo_model_carries_the_placement_it_was_certified_with(isolated_home):
    entry = Registry().entry(DEMO_MODEL_ID)
    assert read_run_defaults(entry.bundled_dir) == RunDefaults(window_placement="flush")
    assert entry.window_placement == "flush"  # the catalogue says the same
    assert load_model(entry.bundled_dir, "cpu").run_defaults.window_placement == "flush"


def test_a_model_without_the_file_runs_with_salts_placement(small_threshold_model):
    assert not (small_threshold_model / RUN_DEFAULTS_FILE).exists()
    assert load_model(small_threshold_model, "cpu").run_defaults == RunDefaults(window_placement="salt")


def test_python_api_runs_the_models_placement_unless_chosen(labels_by_placement):
    salt, flush, default = (labels_by_placement[p] for p in ("salt", "flush", None))
    assert np.mean(salt[0] == flush[0]) < 0.999  # the placements give different labels here
    assert default[1] == "flush" and np.array_equal(default[0], flush[0])
    assert salt[1] == "salt"


def test_cli_segment_runs_the_models_placement_and_an_explicit_choice_wins(tmp_path, flush_model, scan,
                                                                              labels_by_placement):
    for argv, placement in (([], "flush"), (["--window-placement", "salt"], "salt")):
        output = tmp_path / f"{placement}.nii.gz"
        assert main(["segment", str(scan), "-o", str(output), "--model", str(flush_model), "--device", "cpu",
                     "--no-largest-component", "--backend", "torch", "--quiet", *argv]) == 0
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(output))), labels_by_placement[placement][0])
    parser = argparse.ArgumentParser()
    add_segment_options(parser)
    assert segment_options_from_args(parser.parse_args([])).window_placement is None  # "not chosen"


def test_batch_worker_runs_and_records_the_models_placement(tmp_path, flush_model, scan, labels_by_placement):
    options = with_model_placement(SegmentOptions(**OPTIONS), flush_model)
    settings = CaseSettings(str(tmp_path), str(flush_model), "flush-model", "cpu", "nii.gz", options)
    assert "window_placement=flush" in settings.options_signature  # the manifest compares what ran
    outcome = run_case(Case("ct", str(scan)), settings)
    assert outcome.record.status == "done", outcome.record.error
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ct.nii.gz")))
    assert np.array_equal(labels, labels_by_placement["flush"][0])
    chosen = with_model_placement(SegmentOptions(window_placement="salt"), flush_model)
    assert chosen.window_placement == "salt"


def test_engine_service_runs_the_models_placement_for_a_request_without_one(tmp_path, flush_model, scan,
                                                                             labels_by_placement):
    """The request the Slicer module sends names no placement (its options are overlap, batch size
    and largest component only; the Slicer path itself runs in test_demo_model.py)."""
    events: list[tuple[str, dict]] = []
    request = {"op": "segment", "input": str(scan), "labelmap": str(tmp_path / "out.nrrd"),
               "model": str(flush_model), "device": "cpu", "options": dict(OPTIONS)}
    # Through the service's own request parser, as a line from the front end arrives.
    segment_request(parse_request(json.dumps(request)), LoadedModel(),
                    lambda kind, **fields: events.append((kind, fields)))
    kind, done = events[-1]
    assert kind == "done" and done["window_placement"] == "flush"
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(done["labelmap"])), labels_by_placement["flush"][0])


def test_installing_a_model_keeps_the_placement_it_was_certified_with(isolated_home):
    """A folder's inference.json is copied; the two bare files of a catalogue model get the
    catalogue's placement (so ``saltseg demo --model`` / the service run an installed copy as the
    bundled demo model)."""
    bundled = Registry().entry(DEMO_MODEL_ID).bundled_dir
    Registry().install_from_path(bundled, as_id="demo-folder")
    assert read_run_defaults(Registry().resolve("demo-folder")).window_placement == "flush"
    Registry().install_from_path([bundled / "model.pt", bundled / "config.pkl"], as_id="demo-files")
    assert read_run_defaults(Registry().resolve("demo-files")).window_placement == "salt"  # a custom id: no entry
    Registry().install_from_path([bundled / "model.pt", bundled / "config.pkl"])  # recognised by sha256
    assert read_run_defaults(Registry().store.model_dir(DEMO_MODEL_ID)).window_placement == "flush"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not readable JSON"),
    ('["flush"]', "must hold a JSON object"),
    ('{"window_placement": "middle"}', "window_placement must be one of salt, flush"),
    ('{"overlap": 0.3}', "unknown setting(s) overlap"),
])
def test_a_bad_inference_file_is_a_clear_model_error(tmp_path, small_threshold_model, content, message):
    folder = tmp_path / "model"
    folder.mkdir()
    for item in small_threshold_model.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / RUN_DEFAULTS_FILE).write_text(content)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_model(folder, "cpu")
