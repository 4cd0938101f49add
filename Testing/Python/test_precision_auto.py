"""``--precision auto`` (the default): bf16 where the CPU computes it natively and the run's probe
agrees with float32, float32 otherwise, and the run says which and why. The CPU's features are
injected as the operating system reports them (Linux /proc/cpuinfo, macOS sysctl), so every CPU's
decision is tested on this one."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest
import torch

from saltseg.cli import main
from saltseg.errors import ModelError
from saltseg.inference import window_network
from saltseg.inference.backends import cpu_features, select
from saltseg.inference.backends.cpu_features import CpuBf16, detect, from_cpuinfo, from_sysctl
from saltseg.inference.backends.precision import ProbeVerdict, plan_precision, precision_summary
from saltseg.inference.backends.select import check_requested
from saltseg.inference.options import SegmentOptions
from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from saltseg.inference.window_network import WindowNetwork
from saltseg.model.export import export_model
from saltseg.model.model_io import load_model

# Trimmed real /proc/cpuinfo and sysctl outputs.
ZEN4 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
        "flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni\n")
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
ZEN1 = "processor\t: 0\ncpu family\t: 23\nflags\t\t: fpu sse2 avx avx2 fma f16c\n"
ICE_LAKE = "flags\t\t: avx2 avx512f avx512bw avx512_vnni avx512_vbmi2\n"  # AVX-512 without bf16
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve asimdfhm bf16 i8mm\n"
APPLE_M3 = "hw.optional.arm.FEAT_FHM: 1\nhw.optional.arm.FEAT_BF16: 1\nhw.optional.arm.FEAT_I8MM: 1\n"
APPLE_M1 = "hw.optional.arm.FEAT_FHM: 1\nhw.optional.arm.FEAT_BF16: 0\nhw.optional.neon: 1\n"
INTEL_MAC = "hw.optional.avx2_0: 1\nhw.optional.avx512f: 0\nhw.optional.avx512bw: 0\n"

ROI = (32, 32, 16)


def test_linux_x86_flags_name_the_native_bf16_feature():
    assert from_cpuinfo(ZEN4) == CpuBf16("AVX512_BF16", "/proc/cpuinfo")
    assert from_cpuinfo(SAPPHIRE_RAPIDS).feature == "AMX_BF16"  # the stronger of the two


@pytest.mark.parametrize("text", [ZEN1, ICE_LAKE])
def test_linux_x86_without_bf16_flags_is_not_native(text):
    assert not from_cpuinfo(text).native


def test_linux_arm_features_line_is_read():
    assert from_cpuinfo(GRAVITON3).feature == "FEAT_BF16"


def test_macos_sysctl_keys_are_read():
    assert from_sysctl(APPLE_M3) == CpuBf16("FEAT_BF16", "sysctl")
    assert not from_sysctl(APPLE_M1).native
    assert not from_sysctl(INTEL_MAC).native  # no Intel Mac CPU has bf16, and macOS names no key


def test_each_system_reads_its_own_source():
    assert detect("Linux", cpuinfo=ZEN1, sysctl=APPLE_M3).feature == ""
    assert detect("Darwin", cpuinfo=ZEN4, sysctl=APPLE_M3).feature == "FEAT_BF16"


@pytest.mark.parametrize("text, expected", [(ZEN4, ("bf16", "AVX512_BF16")),
                                            (SAPPHIRE_RAPIDS, ("bf16", "AMX_BF16")),
                                            (ZEN1, ("fp32", "no native bf16 on this CPU")),
                                            (ICE_LAKE, ("fp32", "no native bf16 on this CPU"))])
def test_auto_tries_bf16_only_with_native_x86_bf16(text, expected):
    plan = plan_precision("auto", "cpu", from_cpuinfo(text))
    assert (plan.precision, plan.reason) == expected


def test_auto_keeps_float32_on_arm_bf16_it_was_not_measured_on():
    plan = plan_precision("auto", "cpu", from_sysctl(APPLE_M3))
    assert plan.precision == "fp32" and "ask for precision bf16 to try it" in plan.reason


def test_forced_precisions_ignore_the_cpu():
    assert plan_precision("fp32", "cpu", from_cpuinfo(ZEN4)).precision == "fp32"
    assert plan_precision("bf16", "cpu", from_cpuinfo(ZEN1)).reason == "asked for, emulated: no native bf16"


def test_gpus_keep_their_own_arithmetic():
    native = from_cpuinfo(ZEN4)
    assert plan_precision("auto", "cuda", native).precision == "fp16"
    assert plan_precision("auto", "cuda", native, mixed_precision=False).precision == "fp32"
    assert plan_precision("auto", "mps", native).precision == "fp32"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_auto_and_fp32_are_accepted_on_gpus_and_bf16_is_refused(device):
    check_requested("auto", torch.device(device), "auto")
    check_requested("auto", torch.device(device), "fp32")
    with pytest.raises(ModelError, match=f"^precision bf16 is for the CPU runtimes; {device.upper()}"):
        check_requested("auto", torch.device(device), "bf16")


def test_summary_says_bf16_ran_and_how_well_the_probe_agreed():
    plan = plan_precision("auto", "cpu", from_cpuinfo(ZEN4))
    chosen = ProbeVerdict("openvino", "bf16", True, 0.99968, 0.01)
    assert precision_summary(plan, [chosen], chosen, 0.995, 0.05) == "bf16 (AVX512_BF16, probe agreed 99.9 %)"


def test_summary_says_why_a_disagreeing_probe_left_float32_in_charge():
    plan = plan_precision("auto", "cpu", from_cpuinfo(ZEN4))
    refused = ProbeVerdict("openvino", "bf16", False, 0.97593, 0.059)
    fallback = ProbeVerdict("openvino", "fp32", True, 0.9994, 0.001)
    assert precision_summary(plan, [refused, fallback], fallback, 0.995, 0.05) == \
        "fp32 (bf16 probe agreed only 97.5 % of leaf labels, below 99.5 %)"
    far = ProbeVerdict("torch", "bf16", False, 0.999, 0.08)
    assert precision_summary(plan, [far], None, 0.995, 0.05) == \
        "fp32 (bf16 probe's logits off by 8.0 % of the largest, above 5 %)"


def test_summary_of_a_runtime_that_has_no_bf16_kernels():
    plan = plan_precision("auto", "cpu", from_cpuinfo(ZEN4))
    ran = ProbeVerdict("openvino", "fp32", True, 1.0, 0.0)
    assert precision_summary(plan, [ran], ran, 0.995, 0.05) == "fp32 (openvino has no bf16 kernels for this CPU)"


def test_summary_without_native_bf16():
    plan = plan_precision("auto", "cpu", from_cpuinfo(ZEN1))
    assert precision_summary(plan, [], None, 0.995, 0.05) == "fp32 (no native bf16 on this CPU)"


def test_the_environment_can_switch_native_bf16_off_for_every_process(monkeypatch):
    monkeypatch.setenv(cpu_features.ENV_NATIVE_BF16, "0")  # as the test suite itself does
    assert plan_precision("auto", "cpu", cpu_features.cpu_bf16()).reason == \
        "native bf16 switched off by SALTSEG_NATIVE_BF16=0"
    monkeypatch.delenv(cpu_features.ENV_NATIVE_BF16)
    system = platform.system()
    cpuinfo = Path("/proc/cpuinfo").read_text() if system == "Linux" else ""
    assert cpu_features.cpu_bf16() == detect(system, cpuinfo, cpu_features._read_sysctl() if system == "Darwin" else "")


def test_auto_is_the_default():
    assert SegmentOptions().precision == "auto"


# ---------------------------------------------------------------- a real (small) network
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, small_tree):
    from monai.networks.nets import DynUNet

    torch.manual_seed(5)
    network = DynUNet(3, 1, len(small_tree), kernel_size=[3, 3, 3], strides=[1, 2, 2],
                      upsample_kernel_size=[2, 2], filters=[4, 8, 16], res_block=True).eval()
    return export_model(network, small_tree, tmp_path_factory.mktemp("auto"), ROI, (4.0, 4.0, 4.0))


def _labels(model, predictor):
    volume = np.random.default_rng(3).random(ROI, dtype=np.float32)  # one window: bf16 may be emulated here
    return sliding_window_labels(volume, predictor, torch.as_tensor(model.tree.leaves), len(model.tree),
                                 WindowSettings(roi_size=ROI), torch.device("cpu"))


def _cpu(monkeypatch, text):
    monkeypatch.setattr(window_network, "cpu_bf16", lambda: from_cpuinfo(text))
    monkeypatch.setattr(select, "torch_bf16_supported", lambda: True)  # run bf16 here even if emulated


def test_auto_on_a_cpu_without_bf16_runs_float32_and_says_so(model_dir, monkeypatch):
    _cpu(monkeypatch, ZEN1)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(model, predictor)
    assert predictor.precision_summary() == "fp32 (no native bf16 on this CPU)"
    assert np.array_equal(labels, _labels(model, WindowNetwork(model, backend="torch", precision="fp32")))


def test_auto_with_native_bf16_runs_bf16_once_the_probe_agrees(model_dir, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(model, predictor)
    assert predictor.precision_summary().startswith("bf16 (AVX512_BF16, probe agreed ")
    assert predictor.describe() == "network features (torch bf16) + chunked tree softmax"
    assert np.mean(labels == _labels(model, WindowNetwork(model, backend="torch", precision="fp32"))) > 0.99


def test_auto_with_a_disagreeing_probe_runs_float32_and_gives_the_reason(model_dir, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    monkeypatch.setitem(select.TOLERANCES, "bf16", (1.0, 1.01))  # no probe can agree on more than all voxels
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(model, predictor)
    assert predictor.backend is None
    assert predictor.precision_summary().startswith("fp32 (bf16 probe agreed only ")
    assert np.array_equal(labels, _labels(model, WindowNetwork(model, backend="torch", precision="fp32")))


def test_the_command_line_summary_says_which_precision_ran_and_why(tmp_path, shared_data, model_dir, monkeypatch,
                                                                   capsys):
    _cpu(monkeypatch, ZEN1)
    code = main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(tmp_path / "labels.nii.gz"),
                 "--model", str(model_dir), "--device", "cpu", "--backend", "torch", "--quiet"])
    assert code == 0
    assert " on cpu, fp32 (no native bf16 on this CPU)" in capsys.readouterr().err


def test_whole_model_runs_float32_whatever_auto_would_pick(model_dir, monkeypatch):
    _cpu(monkeypatch, ZEN4)
    model = load_model(model_dir, "cpu")
    predictor = WindowNetwork(model, backend="torch", whole_model=True)
    _labels(model, predictor)
    assert predictor.precision_summary() == "fp32 (model.pt runs whole)"
