#!/usr/bin/env python
"""Network runtimes side by side on one model and one real window: torch (model.pt whole, the
network's logits cut from it, and its features — the cut before the pointwise output layer, the
engine's default), OpenVINO (the engine's backend) and, for the record, ONNX Runtime (measured and
dropped: not faster than torch here) on the same ONNX conversion of the features cut.

Each runtime runs at float32 and, with ``--precision bf16`` among ``--precisions`` (default both),
at bfloat16 (torch through CPU autocast, OpenVINO through its precision hint; the precision it
really ran is read back). Prints seconds per window (median of ``--repeats`` after one warm-up call each), max |Δ logit|
against torch's logits (features through the head), leaf-label agreement with torch on the window, and the one-off
conversion
and load times. It also says how close each runtime comes to what this CPU can do at all: the
window's arithmetic (GFLOP, counted by torch's ``FlopCounterMode`` on the features cut), the rate
each runtime reaches (GFLOP/s), and that rate against this CPU's float32 matrix-multiply rate
measured in the same run (torch ``mm`` of 4096² matrices, the same thread count) — a runtime near
100 % is bound by the CPU's arithmetic, and only fewer operations (or another CPU) make it faster.
The CPU's bfloat16 rates are measured the same way (``mm`` at bf16, and one 32→32-channel 3×3×3
convolution on 192×192×48 voxels at float32 and bf16), so the table says whether this CPU has
native bf16 (rate above float32's) or emulates it (far below). The model is SALT's
published architecture (``--arch full``: DynUNet, 145 channels,
roi 192×192×48 at 1.5 mm, seeded random weights) or a tiny DynUNet (``--arch tiny``), exported
in the official format; the window is the centre of the shared CT, preprocessed as the engine does.

    nice -n 19 python benchmarks/backend_table.py --arch full --workdir /tmp/bench_models
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmark_engine import DEFAULT_CT, DEFAULT_TREE
from cpu_info import cpu_summary
from model_zoo import ARCHITECTURES, build_model


def real_window(model, ct_path: str) -> torch.Tensor:
    import SimpleITK as sitk

    from saltseg.inference.preprocess import prepare_volume
    from saltseg.inference.window_placement import pad_volume

    config = model.config
    prepared = prepare_volume(sitk.ReadImage(ct_path), config.voxel_spacing, config.intensity)
    volume = torch.from_numpy(prepared.array)
    padded, _ = pad_volume(volume, config.roi_size, config.background_intensity, "salt")
    starts = [(n - r) // 2 for n, r in zip(padded.shape, config.roi_size)]
    region = tuple(slice(s, s + r) for s, r in zip(starts, config.roi_size))
    return padded[region][None, None].contiguous()


class OnnxRuntimeNetwork:
    """ONNX Runtime on the CPU (benchmark only; the engine does not ship it)."""

    def __init__(self, onnx_path, threads):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def run(self, windows):
        return torch.from_numpy(self.session.run(None, {"windows": windows.numpy()})[0])


def gemm_gflops(threads: int, size: int = 4096, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """This CPU's rate for a large matrix product at ``dtype`` (best of ``repeats``), in GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def conv_gflops(threads: int, dtype: torch.dtype, repeats: int = 3, time_limit: float = 60.0) -> float:
    """This CPU's rate for the network's commonest layer (32→32 channels, 3×3×3, 192×192×48) at
    ``dtype``, in GFLOP/s; an emulated dtype stops after ``time_limit`` seconds of one call."""
    torch.set_num_threads(threads)
    conv = torch.nn.Conv3d(32, 32, 3, padding=1, bias=False).to(dtype).eval()
    x = torch.randn(1, 32, 192, 192, 48, dtype=dtype)
    flop = 2 * 32 * 32 * 27 * 192 * 192 * 48
    with torch.inference_mode():
        first = _seconds(lambda: conv(x))
        if first > time_limit:
            return flop / first / 1e9
        best = min(_seconds(lambda: conv(x)) for _ in range(repeats))
    return flop / best / 1e9


def _seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def window_gflop(function, window) -> float:
    """The arithmetic of one window through ``function`` (convolutions and matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        function(window)
    return counter.get_total_flops() / 1e9


def timed(function, window, repeats):
    """(output, first call s, median s of ``repeats`` more), with the heap as the engine keeps it
    while windows run (freed blocks reused, no fresh pages per call: ``allocator.retained_heap``)."""
    from saltseg.inference.allocator import retained_heap

    with torch.inference_mode(), retained_heap():
        started = time.perf_counter()
        output = function(window)
        first = time.perf_counter() - started
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            output = function(window)
            times.append(time.perf_counter() - started)
    return output, first, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="full")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/saltseg_bench_models"))
    parser.add_argument("--ct", default=str(DEFAULT_CT))
    parser.add_argument("--tree", default=str(DEFAULT_TREE))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--runtimes", nargs="+", choices=("onnxruntime", "openvino"), default=["openvino"],
                        help="ONNX runtimes besides torch (onnxruntime: for the record, float32 only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from saltseg.inference.backends.onnx_file import cached_network_onnx
    from saltseg.inference.backends.runtimes import RUNTIMES, TorchBf16Network, is_installed
    from saltseg.inference.leaf_layout import LeafLayout
    from saltseg.inference.leaf_reducers import TreeSoftmaxReducer, leaf_probabilities
    from saltseg.model.logits import extract_features_and_head, extract_logits_function, simple_jit_executor
    from saltseg.model.model_io import load_model

    runtimes = {"onnxruntime": OnnxRuntimeNetwork, **RUNTIMES}
    model_dir = build_model(args.arch, args.workdir, args.tree)
    model = load_model(model_dir, "cpu")
    window = real_window(model, args.ct)
    logits_function = extract_logits_function(model.network)
    features_function, head = extract_features_and_head(model.network)
    layout = LeafLayout(model.tree)
    from_logits = TreeSoftmaxReducer(layout, model.device)
    from_features = TreeSoftmaxReducer(layout, model.device, head)
    leaves = torch.as_tensor(layout.slab_nodes)

    def labels_of(output, reducer):
        return leaf_probabilities(reducer, output[0]).argmax(0)

    rows = []  # (runtime, precision, first s, s per window, max |Δ logit|, label agreement, note)
    with simple_jit_executor():
        whole, first, per_window = timed(model.network, window, args.repeats)
        rows.append(("torch, model.pt whole", "fp32", first, per_window, None, None, ""))
        whole_labels = whole[0].index_select(0, leaves).reshape(len(leaves), -1).argmax(0)
        del whole
        reference, first, per_window = timed(logits_function, window, args.repeats)
        reference_labels = labels_of(reference, from_logits)
        rows.append(("torch, network logits", "fp32", first, per_window, 0.0,
                     float((reference_labels == whole_labels).float().mean()), ""))
        features, first, per_window = timed(features_function, window, args.repeats)
        gflop = window_gflop(features_function, window)
        rows.append(("torch, network features", "fp32", first, per_window,
                     float((head.logits(features) - reference).abs().max()),
                     float((labels_of(features, from_features) == reference_labels).float().mean()),
                     f"{features.shape[1]} channels instead of {reference.shape[1]}"))
        if "bf16" in args.precisions:
            output, first, per_window = timed(TorchBf16Network(features_function).run, window, args.repeats)
            output = output.float()
            rows.append(("torch, network features", "bf16", first, per_window,
                         float((head.logits(output) - reference).abs().max()),
                         float((labels_of(output, from_features) == reference_labels).float().mean()),
                         "CPU autocast"))
            del output
    for name in args.runtimes:
        if not is_installed(name):
            rows.append((name, "", None, None, None, None, "not installed"))
            continue
        started = time.perf_counter()
        path = cached_network_onnx(model_dir, "features", features_function, window)
        converted = time.perf_counter() - started
        for precision in args.precisions if name in RUNTIMES else ["fp32"]:
            started = time.perf_counter()
            runtime = runtimes[name](path, args.threads, precision) if name in RUNTIMES else \
                runtimes[name](path, args.threads)
            loaded = time.perf_counter() - started
            output, first, per_window = timed(runtime.run, window, args.repeats)
            difference = float((head.logits(output) - reference).abs().max())
            agreement = float((labels_of(output, from_features) == reference_labels).float().mean())
            ran = getattr(runtime, "precision", "fp32")  # what the runtime really ran (read back)
            rows.append((f"{name}, network features", ran, first, per_window, difference, agreement,
                         f"ONNX file {converted:.1f} s (0 when cached), load {loaded:.1f} s"
                         + (f"; {precision} asked for" if ran != precision else "")))
            del runtime, output

    peak = gemm_gflops(args.threads)
    peak_bf16 = gemm_gflops(args.threads, dtype=torch.bfloat16)
    conv32, conv16 = conv_gflops(args.threads, torch.float32), conv_gflops(args.threads, torch.bfloat16)
    print(f"## Network runtimes — {args.arch} architecture, one {tuple(window.shape[2:])} window of the "
          f"shared CT, {args.threads} threads, torch {torch.__version__}\n")
    print(f"{cpu_summary()}\n")
    print("| this CPU's rate | float32 GFLOP/s | bf16 GFLOP/s | bf16 / float32 |\n|---|---:|---:|---:|")
    print(f"| matrix product (4096², {args.threads} threads) | {peak:.1f} | {peak_bf16:.1f} "
          f"| {peak_bf16 / peak:.2f}× |")
    print(f"| 3×3×3 convolution, 32→32 channels, 192×192×48 | {conv32:.1f} | {conv16:.1f} "
          f"| {conv16 / conv32:.2f}× |\n")
    print(f"One window through the network features: {gflop:.0f} GFLOP, so at least {gflop / peak:.1f} s per "
          f"window at the float32 matrix-product rate ({gflop / peak_bf16:.1f} s at bf16's).\n")
    print("| runtime | precision | first call s | s per window | GFLOP/s (% of the float32 matrix-product rate) "
          "| max abs Δ logit vs torch fp32 | leaf labels = torch fp32 logits | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, precision, first, per_window, difference, agreement, note in rows:
        # model.pt whole and the logits cut do a little more arithmetic (the 1×1×1 head); counted as features.
        rate = f"{gflop / per_window:.1f} ({100 * gflop / per_window / peak:.0f} %)" if per_window else "—"
        cells = [name, precision, f"{first:.2f}" if first is not None else "—",
                 f"{per_window:.2f}" if per_window else "—",
                 rate, f"{difference:.2g}" if difference is not None else "—",
                 f"{100 * agreement:.3f} %" if agreement is not None else "—", note]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
