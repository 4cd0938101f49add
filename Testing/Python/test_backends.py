"""OpenVINO for the network cut out of model.pt: converted once, cached atomically, checked
against torch before use, and torch whenever anything is off."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from saltseg.errors import ModelError
from saltseg.inference.backends import onnx_file, runtimes, select
from saltseg.inference.backends.onnx_file import ENV_CACHE, candidate_paths, model_checksum
from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from saltseg.inference.window_network import WindowNetwork
from saltseg.model.export import export_model
from saltseg.model.model_io import load_model

pytestmark = pytest.mark.backends

ROI = (32, 32, 16)
RUNTIME_NAMES = ("openvino",)


@pytest.fixture()
def model_dir(tmp_path, small_tree, monkeypatch):
    from monai.networks.nets import DynUNet

    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "user-cache"))
    torch.manual_seed(3)
    network = DynUNet(3, 1, len(small_tree), kernel_size=[3, 3, 3], strides=[1, 2, 2],
                      upsample_kernel_size=[2, 2], filters=[4, 8, 16], res_block=True).eval()
    return export_model(network, small_tree, tmp_path / "model", ROI, (4.0, 4.0, 4.0))


def _labels(model, predictor):
    volume = np.random.default_rng(5).random((40, 36, 24), dtype=np.float32)
    return sliding_window_labels(volume, predictor, torch.as_tensor(model.tree.leaves), len(model.tree),
                                 WindowSettings(roi_size=ROI), torch.device("cpu"))


def _require(name):
    pytest.importorskip(name)


@pytest.mark.parametrize("name", RUNTIME_NAMES)
def test_runtime_reproduces_torch_and_is_cached_beside_the_model(model_dir, name):
    _require(name)
    model = load_model(model_dir, "cpu")
    torch_labels = _labels(model, WindowNetwork(model, backend="torch"))
    predictor = WindowNetwork(model, backend=name, precision="fp32")
    labels = _labels(model, predictor)
    assert predictor.describe() == f"network features ({name}) + chunked tree softmax"
    assert np.mean(labels == torch_labels) > 0.9999
    cached, _ = candidate_paths(model_dir, model_checksum(model_dir))
    assert cached.is_file()
    assert not [p for p in model_dir.iterdir() if ".part" in p.name]
    stamp = cached.stat().st_mtime_ns
    again = WindowNetwork(load_model(model_dir, "cpu"), backend=name)
    _labels(model, again)
    assert again.backend is not None and cached.stat().st_mtime_ns == stamp  # converted once


def test_read_only_model_folder_uses_the_user_cache(model_dir, monkeypatch):
    name = next((n for n in RUNTIME_NAMES if runtimes.is_installed(n)), None)
    if name is None:
        pytest.skip("openvino is not installed")
    export = onnx_file.export_network_onnx

    def refuse_model_folder(function, example, target):  # as the OS does for non-root users
        if target.parent == model_dir:
            raise PermissionError(13, "Permission denied", str(target))
        return export(function, example, target)

    monkeypatch.setattr(onnx_file, "export_network_onnx", refuse_model_folder)
    model_dir.chmod(0o555)
    try:
        model = load_model(model_dir, "cpu")
        predictor = WindowNetwork(model, backend=name)
        _labels(model, predictor)
    finally:
        model_dir.chmod(0o755)
    beside, user = candidate_paths(model_dir, model_checksum(model_dir))
    assert predictor.backend is not None and not beside.exists() and user.is_file()


def test_corrupt_cache_entry_is_converted_again(model_dir):
    name = next((n for n in RUNTIME_NAMES if runtimes.is_installed(n)), None)
    if name is None:
        pytest.skip("openvino is not installed")
    beside, _ = candidate_paths(model_dir, model_checksum(model_dir))
    beside.write_bytes(b"not an onnx file")
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend=name)
    _labels(model, predictor)
    assert predictor.backend is not None and beside.stat().st_size > 1000


def test_partial_conversion_of_a_killed_run_is_removed_by_the_next_conversion(model_dir):
    name = next((n for n in RUNTIME_NAMES if runtimes.is_installed(n)), None)
    if name is None:
        pytest.skip("openvino is not installed")
    beside, _ = candidate_paths(model_dir, model_checksum(model_dir))
    orphan = model_dir / f".{beside.name}.k1ll3d_0.part.onnx"  # what a kill during the export leaves
    orphan.write_bytes(b"\0" * 65536)
    other_model = model_dir / ".model-0123456789abcdef.features.onnx.abcdefgh.part.onnx"  # not this target's
    other_model.write_bytes(b"\0")
    notes = model_dir / "notes.part.onnx"  # not of our naming
    notes.write_bytes(b"\0")
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend=name)
    _labels(model, predictor)
    assert predictor.backend is not None and beside.is_file()
    assert not orphan.exists() and other_model.exists() and notes.exists()


def test_conversion_of_a_replaced_model_is_removed_from_the_model_folder_only(model_dir):
    name = next((n for n in RUNTIME_NAMES if runtimes.is_installed(n)), None)
    if name is None:
        pytest.skip("openvino is not installed")
    replaced = model_dir / "model-0123456789abcdef.features.onnx"  # an earlier model.pt's conversion
    replaced.write_bytes(b"\0" * 4096)
    elsewhere = onnx_file.user_cache_dir() / "model-0123456789abcdef.features.onnx"  # another model's
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b"\0" * 4096)
    model = load_model(model_dir, "cpu")
    _labels(model, WindowNetwork(model, backend=name))
    assert not replaced.exists()
    assert elsewhere.exists()
    assert candidate_paths(model_dir, model_checksum(model_dir))[0].is_file()


def test_runtime_that_disagrees_with_torch_is_not_used(model_dir, monkeypatch):
    class Wrong:
        name = "openvino"

        def __init__(self, path, threads, precision="fp32"):
            self.path, self.precision = path, precision

        def run(self, windows):  # the features' shape (filters[0] = 4), wrong values
            return torch.zeros(windows.shape[0], 4, *windows.shape[2:])

    monkeypatch.setitem(select.RUNTIMES, "openvino", Wrong)
    monkeypatch.setattr(select, "is_installed", lambda name: name == "openvino")
    monkeypatch.setattr(select, "cached_network_onnx", lambda *args, **kwargs: model_dir / "unused.onnx")
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="auto")
    labels = _labels(model, predictor)
    assert predictor.backend is None and any("refused" in note for note in predictor.notes)
    assert np.array_equal(labels, _labels(model, WindowNetwork(model, backend="torch")))


def test_without_a_runtime_auto_is_torch_and_a_forced_one_is_refused(model_dir, monkeypatch):
    monkeypatch.setattr(select, "is_installed", lambda name: False)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="auto")
    _labels(model, predictor)
    assert predictor.describe() == "network features (torch) + chunked tree softmax"
    with pytest.raises(ModelError, match=r"^backend openvino: openvino is not installed .*saltseg\[openvino\]"):
        WindowNetwork(model, backend="openvino")
    with pytest.raises(ModelError, match="unknown backend"):
        WindowNetwork(model, backend="tensorrt")


def test_models_inside_the_package_are_cached_in_the_user_folder(tmp_path, monkeypatch):
    import saltseg

    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "user-cache"))
    demo = Path(saltseg.__file__).parent / "resources" / "models" / "salt-phantom-demo"
    assert candidate_paths(demo, "ab" * 32) == [tmp_path / "user-cache" / f"model-{'ab' * 8}.features.onnx"]


def test_openvino_bf16_runs_at_what_the_cpu_has_and_says_so(model_dir):
    _require("openvino")
    import openvino

    has_bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="openvino", precision="bf16")
    labels = _labels(model, predictor)
    assert predictor.backend is not None and predictor.backend.name == "openvino"
    assert predictor.backend.precision == ("bf16" if has_bf16 else "fp32")  # f32 where the CPU has no bf16
    expected = "network features (openvino bf16)" if has_bf16 else "network features (openvino)"
    assert predictor.describe().startswith(expected)
    assert np.mean(labels == _labels(model, WindowNetwork(model, backend="torch"))) > 0.99


def test_openvino_precision_names():
    assert [runtimes._precision_name(v) for v in ("<Type: 'bfloat16'>", "bf16", "<Type: 'float32'>", "f16")] == \
        ["bf16", "bf16", "fp32", "fp16"]


def test_a_voxels_path_probabilities_read_the_runtimes_z_first_output(model_dir):
    _require("openvino")
    import SimpleITK as sitk

    from saltseg.inference.pipeline import SegmentOptions, segment_image

    volume = (np.random.default_rng(9).random((24, 40, 36)) * 1400 - 1000).astype(np.int16)  # z, y, x
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((4.0, 4.0, 4.0))
    model = load_model(model_dir, "cpu")
    voxel = (17, 22, 11)
    on_torch = segment_image(image, model, SegmentOptions(backend="torch", precision="fp32")).path_probabilities(voxel)
    runtime = segment_image(image, model, SegmentOptions(backend="openvino", precision="fp32"))  # z-first output
    assert "openvino" in runtime.stats["network"]
    on_runtime = runtime.path_probabilities(voxel)
    nodes = sorted(on_torch.probabilities)
    assert sorted(on_runtime.probabilities) == nodes
    assert np.allclose([on_runtime.probabilities[n] for n in nodes], [on_torch.probabilities[n] for n in nodes],
                       atol=1e-4)


def _recording_runtime(monkeypatch):
    """OpenVINO, each construction recorded with the thread it ran on."""
    made = []

    class Recorded(runtimes.OpenVinoNetwork):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append((self, threading.current_thread().name))

    monkeypatch.setitem(runtimes.RUNTIMES, "openvino", Recorded)
    return made


def test_a_converted_runtime_loads_while_the_probe_runs(model_dir, monkeypatch):
    _require("openvino")
    model = load_model(model_dir, "cpu")
    _labels(model, WindowNetwork(model, backend="openvino", precision="fp32"))  # converts once
    made = _recording_runtime(monkeypatch)
    predictor = WindowNetwork(model, backend="openvino", precision="fp32")
    labels = _labels(model, predictor)
    assert [thread for _, thread in made] == ["saltseg-runtime-load"]  # loaded once, beside the probe
    assert predictor.backend is made[0][0]
    assert np.mean(labels == _labels(model, WindowNetwork(model, backend="torch"))) > 0.9999


def test_without_a_conversion_the_runtime_loads_after_the_probe(model_dir, monkeypatch):
    _require("openvino")
    made = _recording_runtime(monkeypatch)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="openvino", precision="fp32")
    _labels(model, predictor)
    assert [thread for _, thread in made] == ["MainThread"]  # converting needs the probe
    assert predictor.backend is made[0][0]
