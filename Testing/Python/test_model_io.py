"""Official model format: export, load, validation, and moving traced models between devices."""
from __future__ import annotations

import io
import pickle
import shutil
import warnings

import numpy as np
import pytest
import torch

from saltseg.errors import DeviceError, ModelError, UnsafeConfigError
from saltseg.model.export import export_model
from saltseg.model.model_io import CONFIG_FILE, MODEL_FILE, load_model, read_config
from saltseg.model.safe_pickle import load_config_pickle
from saltseg.model.torchscript_devices import GraphDeviceReport, check_runnable_on, inspect_graph
from saltseg.tree.tree_softmax import TreeSoftmax


class ZerosLikeInput(torch.nn.Module):
    """Creates a tensor with device=x.device, which tracing records as a device literal."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, channels, 1)

    def forward(self, x):
        bias = torch.zeros(x.shape[0], 1, *x.shape[2:], device=x.device)
        return self.conv(x) + bias


@pytest.fixture()
def exported(tmp_path, small_tree):
    network = torch.nn.Conv3d(1, len(small_tree), 3, padding=1)
    export_model(network, small_tree, tmp_path / "m", (16, 16, 8), (2.0, 2.0, 3.0))
    return tmp_path / "m", network


def test_export_load_round_trip_gives_the_same_probabilities(exported, small_tree):
    folder, network = exported
    model = load_model(folder, "cpu")
    x = torch.rand(2, 1, 16, 16, 8)
    with torch.no_grad():
        expected = TreeSoftmax(small_tree)(network(x))
        assert torch.allclose(model.network(x), expected, atol=1e-6)
    assert model.tree == small_tree
    assert model.config.roi_size == (16, 16, 8) and model.config.voxel_spacing == (2.0, 2.0, 3.0)
    assert model.config.intensity is None and model.config.background_intensity == 0.0


def test_config_has_exactly_salts_keys(exported, small_tree):
    raw = load_config_pickle((exported[0] / CONFIG_FILE).open("rb"))
    assert set(raw) == {"adjacency_matrix", "intensity_properties", "label_names", "model", "args"}
    assert set(raw["model"]) == {"num_classes", "kernel_sizes", "strides", "roi_size", "voxel_spacing"}
    assert raw["label_names"] == list(small_tree.paths)
    assert np.array_equal(raw["adjacency_matrix"], small_tree.adjacency_matrix)


def test_missing_empty_and_truncated_files_are_reported(exported, tmp_path):
    folder = exported[0]
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere", "cpu")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    data = (broken / MODEL_FILE).read_bytes()
    (broken / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a loadable TorchScript model"):
        load_model(broken, "cpu")
    (broken / MODEL_FILE).write_bytes(b"")
    with pytest.raises(ModelError, match="is empty"):
        load_model(broken, "cpu")
    (broken / MODEL_FILE).unlink()
    with pytest.raises(ModelError, match="has no model.pt"):
        load_model(broken, "cpu")
    shutil.copy(folder / MODEL_FILE, broken / MODEL_FILE)
    config = (folder / CONFIG_FILE).read_bytes()
    (broken / CONFIG_FILE).write_bytes(config[:100])
    with pytest.raises(ModelError, match="not a valid config.pkl"):
        load_model(broken, "cpu")


def test_invalid_config_contents_are_named(exported, tmp_path):
    raw = load_config_pickle((exported[0] / CONFIG_FILE).open("rb"))
    raw["model"]["num_classes"] = 3
    (tmp_path / CONFIG_FILE).write_bytes(pickle.dumps(raw))
    with pytest.raises(ModelError, match="num_classes is 3 but the label tree has 8 nodes"):
        read_config(tmp_path / CONFIG_FILE)
    raw["model"]["num_classes"] = 8
    raw["model"]["roi_size"] = (16, 16)
    (tmp_path / CONFIG_FILE).write_bytes(pickle.dumps(raw))
    with pytest.raises(ModelError, match="roi_size must be three positive numbers"):
        read_config(tmp_path / CONFIG_FILE)
    del raw["label_names"]
    (tmp_path / CONFIG_FILE).write_bytes(pickle.dumps(raw))
    with pytest.raises(ModelError, match="no 'label_names'"):
        read_config(tmp_path / CONFIG_FILE)


def test_hostile_config_is_refused_before_anything_runs(exported, tmp_path):
    folder = tmp_path / "hostile"
    shutil.copytree(exported[0], folder)
    (folder / CONFIG_FILE).write_bytes(pickle.dumps({"model": io.StringIO("x")}))
    with pytest.raises(UnsafeConfigError, match="'_io.StringIO'"):
        load_model(folder, "cpu")


def test_intensity_properties_select_z_scoring(exported, tmp_path):
    raw = load_config_pickle((exported[0] / CONFIG_FILE).open("rb"))
    raw["intensity_properties"] = {"mean": 100.0, "std": 400.0}
    (tmp_path / CONFIG_FILE).write_bytes(pickle.dumps(raw))
    config = read_config(tmp_path / CONFIG_FILE)
    assert config.intensity.mean == 100.0
    assert config.background_intensity == pytest.approx((-1024 - 100) / 400)


def test_model_traced_on_cuda_runs_on_cpu(tmp_path, small_tree):
    """Tracing bakes ``x.device`` in; the published model says cuda:0. Loading retargets it."""
    network = ZerosLikeInput(len(small_tree))
    folder = export_model(network, small_tree, tmp_path / "m", (8, 8, 4), (1.0, 1.0, 1.0))
    module = torch.jit.load(str(folder / MODEL_FILE), map_location="cpu")
    for node in module.graph.nodes():
        if node.kind() == "prim::Constant" and node.output().type().kind() == "DeviceObjType":
            node.s_("value", "cuda:0")
    torch.jit.save(module, str(folder / MODEL_FILE))
    as_saved = torch.jit.load(str(folder / MODEL_FILE), map_location="cpu")
    assert inspect_graph(as_saved).device_literals == {"cuda:0"}
    if not torch.cuda.is_available():  # unpatched, it tries to allocate on CUDA
        with pytest.raises((RuntimeError, NotImplementedError), match="CUDA"):
            as_saved(torch.rand(1, 1, 8, 8, 4))
    model = load_model(folder, "cpu")
    assert model.graph_report.device_literals == {"cuda:0"}
    x = torch.rand(1, 1, 8, 8, 4)
    with torch.no_grad():
        assert torch.allclose(model.network(x), TreeSoftmax(small_tree)(network(x)), atol=1e-6)
    assert inspect_graph(model.network).device_literals == {"cpu"}


def test_backend_specific_operators_are_reported_clearly(tmp_path):
    cuda_fused = GraphDeviceReport(cuda_only_ops={"aten::cudnn_convolution_add_relu"})
    with pytest.raises(DeviceError, match="optimised for CUDA.*cannot run on cpu"):
        check_runnable_on(cuda_fused, torch.device("cpu"))
    check_runnable_on(cuda_fused, torch.device("cuda"))
    # A real CPU optimize_for_inference file (MKL-DNN constants) cannot be loaded back.
    network = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimised = torch.jit.optimize_for_inference(torch.jit.trace(network, torch.rand(1, 1, 8, 8, 8)))
    report = inspect_graph(optimised)
    assert report.cpu_only_ops
    with pytest.raises(DeviceError, match="optimised for the CPU"):
        check_runnable_on(report, torch.device("cuda"))
    folder = tmp_path / "ofi"
    folder.mkdir()
    torch.jit.save(optimised, str(folder / MODEL_FILE))
    from saltseg.model.model_io import load_torchscript
    with pytest.raises(ModelError, match="optimize_for_inference on the CPU"):
        load_torchscript(folder / MODEL_FILE, torch.device("cpu"))


def test_unavailable_device_is_a_clear_error(exported):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="'cuda' is not available"):
        load_model(exported[0], "cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        load_model(exported[0], "tpu-9000")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_traced_model_runs_on_cuda(tmp_path, small_tree):
    network = ZerosLikeInput(len(small_tree))
    folder = export_model(network, small_tree, tmp_path / "m", (8, 8, 4), (1.0, 1.0, 1.0))
    model = load_model(folder, "cuda")
    x = torch.rand(1, 1, 8, 8, 4)
    with torch.no_grad():
        assert torch.allclose(model.network(x.cuda()).cpu(), TreeSoftmax(small_tree)(network(x)), atol=1e-5)
