"""``--precision bf16``: the network runs at bfloat16 only after its output on the probe, computed in
bf16, matched torch's float32 output within bf16's tolerance; otherwise float32 runs. Refused
where it does not apply (CUDA), named in the run's description. Without the faster CPU runtime a
CPU run says once how much faster it would be."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saltseg.errors import ModelError
from saltseg.inference.backends import select
from saltseg.inference.backends.select import check_requested, faster_runtime_hint
from saltseg.inference.pipeline import SegmentOptions
from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from saltseg.inference.window_network import WindowNetwork, window_predictor
from saltseg.model.export import export_model
from saltseg.model.model_io import load_model

ROI = (32, 32, 16)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, small_tree):
    from monai.networks.nets import DynUNet

    torch.manual_seed(11)
    network = DynUNet(3, 1, len(small_tree), kernel_size=[3, 3, 3], strides=[1, 2, 2],
                      upsample_kernel_size=[2, 2], filters=[4, 8, 16], res_block=True).eval()
    return export_model(network, small_tree, tmp_path_factory.mktemp("bf16"), ROI, (4.0, 4.0, 4.0))


def _labels(model, predictor, shape=(40, 36, 24)):
    volume = np.random.default_rng(7).random(shape, dtype=np.float32)
    return sliding_window_labels(volume, predictor, torch.as_tensor(model.tree.leaves), len(model.tree),
                                 WindowSettings(roi_size=ROI), torch.device("cpu"))


def test_torch_bf16_is_checked_against_float32_and_agrees(model_dir, monkeypatch):
    monkeypatch.setattr(select, "torch_bf16_supported", lambda: True)  # run it here even if emulated (slow)
    model = load_model(model_dir, "cpu")
    # One window: where the CPU has no bf16 kernels, torch emulates them about 100× slower.
    reference = _labels(model, WindowNetwork(model, backend="torch"), ROI)
    predictor = window_predictor(model, SegmentOptions(backend="torch", precision="bf16"))
    labels = _labels(model, predictor, ROI)
    assert predictor.describe() == "network features (torch bf16) + chunked tree softmax"
    assert any(note.startswith("torch bf16 verified against torch fp32") for note in predictor.notes)
    assert np.mean(labels == reference) > 0.99


def test_bf16_without_cpu_kernels_runs_float32_and_says_why(model_dir, monkeypatch):
    monkeypatch.setattr(select, "torch_bf16_supported", lambda: False)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch", precision="bf16")
    labels = _labels(model, predictor)
    assert predictor.backend is None and predictor.describe() == "network features (torch) + chunked tree softmax"
    assert any("no bf16 kernels" in note for note in predictor.notes)
    assert np.array_equal(labels, _labels(model, WindowNetwork(model, backend="torch")))


def test_bf16_that_fails_its_check_leaves_float32_in_charge(model_dir, monkeypatch):
    monkeypatch.setattr(select, "torch_bf16_supported", lambda: True)
    monkeypatch.setitem(select.TOLERANCES, "bf16", (0.0, 1.0))  # bf16 can never be exact
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch", precision="bf16")
    labels = _labels(model, predictor)
    assert predictor.backend is None and any(note.startswith("torch bf16 refused") for note in predictor.notes)
    assert predictor.describe() == "network features (torch) + chunked tree softmax"
    assert np.array_equal(labels, _labels(model, WindowNetwork(model, backend="torch")))


def test_impossible_precisions_are_refused_before_any_work():
    with pytest.raises(ModelError, match="unknown precision 'fp8'"):
        check_requested("auto", torch.device("cpu"), "fp8")
    with pytest.raises(ModelError, match="precision bf16 is for the CPU runtimes; CUDA runs float16"):
        check_requested("torch", torch.device("cuda"), "bf16")
    check_requested("auto", torch.device("cuda"), "fp32")  # the default is fine everywhere


def test_cpu_run_without_the_faster_runtime_says_once_how_much_faster(model_dir, monkeypatch):
    monkeypatch.setattr(select, "is_installed", lambda name: False)
    monkeypatch.setattr(select, "_hinted", False)
    model = load_model(model_dir, "cpu")
    first = WindowNetwork(model, backend="auto")
    _labels(model, first)
    hint = [note for note in first.notes if "faster CPU runtime" in note]
    assert len(hint) == 1 and select.FAST_RUNTIME_SPEEDUP in hint[0] and 'pip install "saltseg[fast-cpu]"' in hint[0]
    second = WindowNetwork(model, backend="auto")
    _labels(model, second)
    assert not [note for note in second.notes if "faster CPU runtime" in note]  # once per process


def test_no_hint_where_it_would_not_help(monkeypatch):
    monkeypatch.setattr(select, "_hinted", False)
    monkeypatch.setattr(select, "is_installed", lambda name: False)
    assert faster_runtime_hint("torch", torch.device("cpu")) is None  # the user chose torch
    assert faster_runtime_hint("auto", torch.device("cuda")) is None
    monkeypatch.setattr(select, "is_installed", lambda name: True)
    assert faster_runtime_hint("auto", torch.device("cpu")) is None  # already there
