#!/usr/bin/env python
"""Benchmark the saltseg engine: per-stage wall time and peak RSS on a whole-body-sized CT with the
published architecture, tree-softmax speed, and peak memory versus scan length.

Three parts (each selectable with ``--parts``):

``engine``
    Builds MONAI ``DynUNet(spatial_dims=3, in_channels=1, out_channels=145, kernel_size=kernels,
    strides=strides, upsample_kernel_size=strides[1:], res_block=True)`` with kernels/strides from
    SALT's nnU-Net-style rule for roi (192, 192, 48) at 1.5 mm (re-implemented below), untrained
    (seeded random weights), exports it with ``saltseg.model.export.export_model`` (followed by our
    TreeSoftmax, as in the official format) and runs ``segment_image`` on a CT of whole-body size:
    the shared CT resampled to ``--spacing`` and padded with air / mirrored along z to ``--size``.
    On a CPU the full run takes hours; with ``--max-windows N`` (default 2) the stages are run one
    by one as ``segment_image`` runs them: preprocessing for real; inference with the real network
    on the first N windows, then ``--reuse-batches`` batches reusing the last output (to measure
    the engine's own per-batch cost), then stopped; post-processing (largest component + map back)
    for real on threshold labels of the full volume. The inference time is EXTRAPOLATED as
    windows × network s/window + batches × engine overhead s/batch. ``--max-windows 0`` runs
    everything for real (use it on a GPU: ``--device cuda``).

``softmax``
    Time of our vectorised ``TreeSoftmax`` vs ``reference_tree_softmax`` (per-group Python loop,
    float64) and, with ``--salt-repo``, SALT's own ``salt.core.activations.TreeSoftmax``, on a
    realistic window batch ``--softmax-shape`` (default 2 145 192 192 48), each in its own
    subprocess so that its peak RSS is its own.

``scaling``
    Peak RSS of ``segment_image`` with a cheap deterministic network (intensity classes routed to
    tree probabilities; 145 channels; roi 192×192×48 at 1.5 mm) on volumes of growing z length
    (``--scaling-z``, default 150 300 600 slices of ``--size`` x/y), each in its own subprocess:
    peak memory should stay roughly flat because the engine keeps one slab of leaf
    probabilities, not the whole-volume probability map.

Peak RSS is the VmHWM high-water mark of the process doing the work; per-stage peaks come from a 20 ms psutil
sampler driven by the pipeline's progress callback (they can miss very short spikes).

Examples::

    nice -n 19 python benchmarks/benchmark_engine.py --quick
    nice -n 19 python benchmarks/benchmark_engine.py --parts softmax --salt-repo /tmp/salt_ref
    python benchmarks/benchmark_engine.py --device cuda --max-windows 0   # the full run, on a GPU
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from process_memory import peak_rss_mb, rss_mb

HERE = Path(__file__).resolve().parent
DEFAULT_CT = HERE.parent.parent / "shared" / "data" / "example_ct.nii.gz"
DEFAULT_TREE = HERE.parent.parent / "shared" / "data" / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"
ROI = (192, 192, 48)


# --------------------------------------------------------------------------------------------
# architecture
# --------------------------------------------------------------------------------------------
def kernels_and_strides(roi, spacing):
    """SALT's layout for ``roi`` at ``spacing`` (the engine's :func:`saltseg.training.network.salt_layout`)."""
    from saltseg.training.network import salt_layout

    return salt_layout(roi, spacing)


def build_dynunet(num_classes, kernels, strides):
    """SALT's published DynUNet (residual blocks, MONAI's default filters)."""
    from saltseg.training.network import build_salt_dynunet

    return build_salt_dynunet(num_classes, (kernels, strides))


# --------------------------------------------------------------------------------------------
# memory helpers
# --------------------------------------------------------------------------------------------
class StageMemory:
    """Samples RSS every ``interval`` s and attributes the maximum to the current stage."""

    def __init__(self, interval: float = 0.02) -> None:
        self.stage = "setup"
        self.peaks: dict[str, float] = {}
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb()
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), value)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def progress(self, stage: str, fraction: float) -> None:
        self.stage = stage


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def whole_body_ct(ct_path: str, size, spacing):
    """The shared CT resampled to ``spacing``, centred in x/y in air (or cropped) and mirrored
    along z (reflect, so there is no seam) to ``size`` voxels; int16 HU, LPS direction of the input."""
    import SimpleITK as sitk

    from saltseg.inference.preprocess import resample_to_spacing

    image = sitk.ReadImage(ct_path)
    resampled = resample_to_spacing(image, spacing, pixel_type=sitk.sitkInt16)
    array = sitk.GetArrayFromImage(resampled)  # [z, y, x]
    target = (size[2], size[1], size[0])
    pads = []
    for axis, (n, t) in enumerate(zip(array.shape, target)):
        if t <= n:
            start = (n - t) // 2
            array = np.take(array, np.arange(start, start + t), axis=axis)
            pads.append((0, 0))
        elif axis == 0:
            pads.append((0, t - n))
        else:
            pads.append(((t - n) // 2, t - n - (t - n) // 2))
    # air in x/y, mirrored anatomy in z (np.pad 'symmetric' repeats as often as needed)
    array = np.pad(array, [(0, 0)] + pads[1:], mode="constant", constant_values=-1024)
    if pads[0][1]:
        array = np.pad(array, [pads[0], (0, 0), (0, 0)], mode="symmetric")
    out = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.int16))
    out.SetSpacing(tuple(float(s) for s in spacing))
    out.SetDirection(resampled.GetDirection())
    out.SetOrigin(resampled.GetOrigin())
    return out


def window_count(image, config, overlap=0.5):
    from saltseg.inference.preprocess import reorient, resampled_size
    from saltseg.inference.window_placement import scan_positions

    oriented = reorient(image)
    shape = resampled_size(oriented.GetSize(), oriented.GetSpacing(), config.voxel_spacing)
    shape = [max(s, r) for s, r in zip(shape, config.roi_size)]
    count = 1
    for s, r in zip(shape, config.roi_size):
        count *= len(scan_positions(s, r, overlap))
    return count, shape


def export_without_trace_check(*args, **kwargs):
    """``saltseg.model.export.export_model`` with ``torch.jit.trace(check_trace=False)``: the default trace
    check re-runs the network and compares in float64, which for a [1, 145, 192, 192, 48] output
    needs many GiB of RAM (it got this benchmark OOM-killed). The exported file is the same."""
    import functools

    import torch

    from saltseg.model.export import export_model

    original = torch.jit.trace
    torch.jit.trace = functools.partial(original, check_trace=False)
    try:
        return export_model(*args, **kwargs)
    finally:
        torch.jit.trace = original


# --------------------------------------------------------------------------------------------
# parts (each run in its own subprocess)
# --------------------------------------------------------------------------------------------
class _StopInference(Exception):
    pass


def part_engine(args) -> dict:
    import torch

    from saltseg.io.image_io import check_ct_image
    from saltseg.tree.labeltree import LabelTree
    from saltseg.model.model_io import load_model
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.inference.postprocess import keep_largest_component, map_to_input_grid
    from saltseg.inference.preprocess import prepare_volume, reorient
    from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels

    tree = LabelTree.from_tree_labels_file(args.tree)
    kernels, strides = kernels_and_strides(ROI, (1.5, 1.5, 1.5))
    torch.manual_seed(0)
    network = build_dynunet(len(tree), kernels, strides).eval()
    parameters = sum(p.numel() for p in network.parameters())
    model_dir = Path(args.workdir) / "dynunet_model"
    start = time.perf_counter()
    if not (model_dir / "model.pt").exists():
        export_without_trace_check(network, tree, model_dir, ROI, args.spacing, kernel_sizes=kernels, strides=strides)
    export_seconds = time.perf_counter() - start
    del network
    model = load_model(model_dir, args.device)
    image = whole_body_ct(args.ct, args.size, args.spacing)
    total_windows, grid = window_count(image, model.config)
    baseline = rss_mb()
    common = {"kernels": kernels, "strides": strides, "parameters": parameters,
              "export_seconds": export_seconds, "size": list(image.GetSize()), "grid": grid,
              "total_windows": total_windows, "device": str(model.device), "baseline_rss_mb": baseline}
    if args.max_windows <= 0:  # everything real, through the public entry point
        with StageMemory() as memory:
            result = segment_image(image, model, SegmentOptions(overlap=0.5, batch_size=args.batch_size),
                                   progress=memory.progress)
        return {**common, "mode": "full", "timings": dict(result.timings),
                "stage_peak_rss_mb": memory.peaks, "peak_rss_mb": peak_rss_mb()}

    # Partial run: the stages one by one (what segment_image does), inference stopped early.
    config = model.config
    timings, counters = {}, {"real": 0, "reused": 0, "net_s": 0.0, "reuse_batches": 0}
    with StageMemory() as memory:
        memory.progress("preprocessing", 0.0)
        start = time.perf_counter()
        check_ct_image(image)
        prepared = prepare_volume(reorient(image), config.voxel_spacing, config.intensity, already_oriented=True)
        timings["preprocessing"] = time.perf_counter() - start

        memory.progress("inference", 0.0)
        last = {}
        reuse_limit = max(args.reuse_batches, 0)

        def predictor(windows):
            if counters["real"] < args.max_windows or "out" not in last:
                begin = time.perf_counter()
                out = model.network(windows)
                counters["net_s"] += time.perf_counter() - begin
                counters["real"] += windows.shape[0]
                last["out"] = out
                return out
            if counters["reuse_batches"] >= reuse_limit:
                raise _StopInference
            counters["reuse_batches"] += 1
            counters["reused"] += windows.shape[0]
            return last["out"].clone()

        settings = WindowSettings(roi_size=config.roi_size, overlap=0.5, batch_size=args.batch_size,
                                  pad_value=config.background_intensity)
        leaves = torch.as_tensor(tree.leaves, dtype=torch.long)
        start = time.perf_counter()
        try:
            sliding_window_labels(prepared.array, predictor, leaves, len(tree), settings, model.device)
        except _StopInference:
            pass
        measured = time.perf_counter() - start
        # per-batch time of the reused batches = everything except the network (slab accumulation,
        # leaf selection, copies); per real window = network time
        real_batches = -(-counters["real"] // args.batch_size)
        overhead_per_batch = (measured - counters["net_s"]) / max(real_batches + counters["reuse_batches"], 1)
        batches = -(-total_windows // args.batch_size)
        per_window = counters["net_s"] / max(counters["real"], 1)
        timings["inference_measured"] = measured
        timings["inference_extrapolated"] = total_windows * per_window + batches * overhead_per_batch

        memory.progress("postprocessing", 0.0)
        # labels of the right size and a realistic layout: body (soft tissue / bone) vs air
        labels = np.where(prepared.array > 0.55, 30, np.where(prepared.array > 0.45, 14, 0)).astype(np.uint8)
        start = time.perf_counter()
        labels = keep_largest_component(labels, 0)
        map_to_input_grid(labels, prepared.grid, image, 0)
        timings["postprocessing"] = time.perf_counter() - start
    return {**common, "mode": "partial", "timings": timings, "windows_real": counters["real"],
            "windows_reused": counters["reused"], "network_seconds_per_window": per_window,
            "overhead_seconds_per_batch": overhead_per_batch, "stage_peak_rss_mb": memory.peaks,
            "peak_rss_mb": peak_rss_mb()}


def part_softmax_one(args) -> dict:
    """One tree-softmax implementation on one random logits tensor (own process)."""
    import torch

    from saltseg.tree.labeltree import LabelTree
    from saltseg.tree.tree_softmax import TreeSoftmax, reference_tree_softmax

    tree = LabelTree.from_tree_labels_file(args.tree)
    shape = tuple(args.softmax_shape)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=generator) * 3
    device = torch.device(args.device)
    logits = logits.to(device)
    if args.impl == "ours":
        module = TreeSoftmax(tree).to(device)
        function = module
    elif args.impl == "reference":
        def function(x):
            return reference_tree_softmax(x, tree)
    else:
        sys.path.insert(0, args.salt_repo)
        from salt.core.activations import TreeSoftmax as SaltTreeSoftmax

        function = SaltTreeSoftmax(tree.adjacency_matrix).to(device)
    baseline = rss_mb()
    times = []
    with torch.inference_mode():
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            output = function(logits)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
            leaf_sum = float(output[:, list(tree.leaves)].sum(dim=1).double().mean())
            del output
    return {"impl": args.impl, "seconds": min(times), "all_seconds": times, "baseline_rss_mb": baseline,
            "peak_rss_mb": peak_rss_mb(), "leaf_sum_mean": leaf_sum}


def part_scaling_one(args) -> dict:
    """segment_image with a cheap network on a volume of z = args.z slices (own process)."""
    import torch
    from torch import nn

    from saltseg.tree.labeltree import LabelTree
    from saltseg.model.model_io import load_model
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.threshold_model import ThresholdNetwork

    tree = LabelTree.from_tree_labels_file(args.tree)

    class ClassProbabilities(nn.Module):
        """Propagated tree probabilities of 4 soft intensity classes (leaves sum to 1), cheaply."""

        def __init__(self) -> None:
            super().__init__()
            self.base = ThresholdNetwork(tree)

        def forward(self, x):
            above = torch.sigmoid((x - self.base.thresholds) * self.base.sharpness)
            classes = torch.cat([torch.ones_like(x), above], 1) - torch.cat([above, torch.zeros_like(x)], 1)
            return torch.einsum("bk...,kn->bn...", classes, self.base.membership)

    model_dir = Path(args.workdir) / "cheap_model"
    if not (model_dir / "model.pt").exists():
        export_without_trace_check(ClassProbabilities(), tree, model_dir, ROI, args.spacing, outputs_probabilities=True)
    model = load_model(model_dir, args.device)
    size = (args.scaling_xy[0], args.scaling_xy[1], args.z)
    image = whole_body_ct(args.ct, size, args.spacing)
    total_windows, grid = window_count(image, model.config)
    baseline = rss_mb()
    with StageMemory() as memory:
        result = segment_image(image, model, SegmentOptions(overlap=0.5, batch_size=args.batch_size),
                               progress=memory.progress)
    return {"z": args.z, "size": list(size), "grid": grid, "windows": total_windows,
            "timings": result.timings, "baseline_rss_mb": baseline, "stage_peak_rss_mb": memory.peaks,
            "peak_rss_mb": peak_rss_mb()}


PARTS = {"engine": part_engine, "softmax_one": part_softmax_one, "scaling_one": part_scaling_one}


def run_sub(args, part: str, extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--_part", part, "--ct", args.ct, "--tree", args.tree,
               "--workdir", args.workdir, "--device", args.device, "--threads", str(args.threads),
               "--size", *map(str, args.size), "--spacing", *map(str, args.spacing),
               "--max-windows", str(args.max_windows),
               "--reuse-batches", str(args.reuse_batches), "--batch-size", str(args.batch_size),
               "--softmax-shape", *map(str, args.softmax_shape), "--scaling-xy", *map(str, args.scaling_xy),
               "--repeats", str(args.repeats)]
    if args.salt_repo:
        command += ["--salt-repo", args.salt_repo]
    process = subprocess.run(command + extra, capture_output=True, text=True, timeout=args.timeout)
    if process.returncode != 0:
        return {"error": (process.stderr.strip().splitlines() or ["exit code %d" % process.returncode])[-1],
                "returncode": process.returncode}
    return json.loads(process.stdout.strip().splitlines()[-1])


def available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return float("inf")


def report_engine(r: dict) -> None:
    print("## Engine on a whole-body-sized CT (published DynUNet architecture, untrained weights)\n")
    if "error" in r:
        print(f"failed: {r['error']}\n")
        return
    print(f"device {r['device']}; CT {'×'.join(map(str, r['size']))} voxels; processing grid "
          f"{'×'.join(map(str, r['grid']))}; {r['total_windows']} windows of 192×192×48; DynUNet "
          f"{r['parameters'] / 1e6:.1f} M parameters, kernels {r['kernels']}, strides {r['strides']}; "
          f"export {r['export_seconds']:.1f} s (0 = reused)\n")
    t, peaks = r["timings"], r["stage_peak_rss_mb"]
    print("| stage | wall s | peak RSS MB (sampled) |\n|---|---:|---:|")
    print(f"| preprocessing | {t['preprocessing']:.1f} | {peaks.get('preprocessing', 0):.0f} |")
    if r["mode"] == "full":
        print(f"| inference (all {r['total_windows']} windows real) | {t['inference']:.1f} | "
              f"{peaks.get('inference', 0):.0f} |")
        total = sum(t.values())
    else:
        print(f"| inference measured: {r['windows_real']} real windows + {r['windows_reused']} windows "
              f"reusing the last output | {t['inference_measured']:.1f} | {peaks.get('inference', 0):.0f} |")
        print(f"| network time per window (DynUNet + TreeSoftmax) | {r['network_seconds_per_window']:.1f} | |")
        print("| engine overhead per batch (leaf select, weighted accumulate, shift, argmax; "
              "includes the 2 GB output clone of the stand-in) | "
              f"{r['overhead_seconds_per_batch']:.1f} | |")
        print(f"| **inference EXTRAPOLATED to all {r['total_windows']} windows** | "
              f"**{t['inference_extrapolated']:.0f}** | – |")
        total = t["preprocessing"] + t["inference_extrapolated"] + t["postprocessing"]
    print(f"| postprocessing{'' if r['mode'] == 'full' else ' (largest component + map back, on threshold labels)'} | "
          f"{t['postprocessing']:.1f} | {peaks.get('postprocessing', 0):.0f} |")
    print(f"| total{'' if r['mode'] == 'full' else ' (EXTRAPOLATED)'} | {total:.0f} | "
          f"{r['peak_rss_mb']:.0f} (VmHWM; {r['baseline_rss_mb']:.0f} before the run) |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=["engine", "softmax", "scaling"],
                        default=["engine", "softmax", "scaling"])
    parser.add_argument("--ct", default=str(DEFAULT_CT))
    parser.add_argument("--tree", default=str(DEFAULT_TREE))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    parser.add_argument("--size", type=int, nargs=3, default=[330, 330, 600], help="whole-body CT size (voxels)")
    parser.add_argument("--spacing", type=float, nargs=3, default=[1.5, 1.5, 1.5], help="CT and model spacing (mm)")
    parser.add_argument("--max-windows", type=int, default=2,
                        help="real network windows before reusing outputs and extrapolating; 0 = all real")
    parser.add_argument("--reuse-batches", type=int, default=4,
                        help="with --max-windows N>0: batches run after the real ones (reusing the last "
                             "output) to measure the engine's per-batch overhead, then inference stops")
    parser.add_argument("--batch-size", type=int, default=2, help="windows per network call")
    parser.add_argument("--softmax-shape", type=int, nargs=5, default=[2, 145, 192, 192, 48])
    parser.add_argument("--softmax-impls", nargs="+", default=["ours", "reference", "salt"],
                        choices=["ours", "reference", "salt"])
    parser.add_argument("--repeats", type=int, default=2, help="tree-softmax repetitions (best is reported)")
    parser.add_argument("--scaling-z", type=int, nargs="+", default=[150, 300, 600])
    parser.add_argument("--scaling-xy", type=int, nargs=2, default=[192, 192],
                        help="x/y size of the scaling volumes (330 330 for whole-body width; slower)")
    parser.add_argument("--salt-repo", help="SALT checkout, to time its TreeSoftmax too")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    parser.add_argument("--quick", action="store_true",
                        help="small settings for a smoke run: 2 real windows, softmax batch 1, z 150 300")
    parser.add_argument("--workdir", help="folder for exported models (default: temp)")
    parser.add_argument("--_part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--z", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args._part:
        print(json.dumps(PARTS[args._part](args)))
        return
    if args.quick:
        args.max_windows = 2
        args.softmax_shape = [1, 145, 192, 192, 48]
        args.scaling_z = [150, 300]
        args.repeats = 1
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="saltseg_bench_")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)

    print(f"# saltseg engine benchmark — device {args.device}, torch threads {args.threads}, "
          f"{os.cpu_count()} CPUs visible\n")
    if "engine" in args.parts:
        report_engine(run_sub(args, "engine", []))

    if "softmax" in args.parts:
        shape = args.softmax_shape
        floats = int(np.prod(shape))
        print(f"## Tree softmax on logits {list(shape)} ({floats * 4 / 2**30:.2f} GiB as float32)\n")
        print("| implementation | best s | runs s | peak RSS MB | Σ leaves (should be 1) |\n|---|---:|---:|---:|---:|")
        impls = [i for i in args.softmax_impls if i != "salt" or args.salt_repo]
        names = {"ours": "saltseg TreeSoftmax (vectorised, float32)",
                 "reference": "reference_tree_softmax (per-group loop, float64)",
                 "salt": "SALT salt.core.activations.TreeSoftmax"}
        results = {}
        for impl in impls:
            # rough need: ours ~5, SALT ~4 float32 copies, reference ~4 float64 copies of the input
            need = floats * 4 * {"ours": 5, "salt": 4, "reference": 8}[impl] / 2**20
            if args.device == "cpu" and need > 0.8 * available_mb():
                print(f"| {names[impl]} | skipped: needs ~{need:.0f} MB, {available_mb():.0f} MB available | | | |")
                continue
            r = run_sub(args, "softmax_one", ["--impl", impl])
            results[impl] = r
            if "error" in r:
                print(f"| {names[impl]} | failed: {r['error']} | | | |")
                continue
            runs = ", ".join(f"{s:.2f}" for s in r["all_seconds"])
            print(f"| {names[impl]} | {r['seconds']:.2f} | {runs} | {r['peak_rss_mb']:.0f} | "
                  f"{r['leaf_sum_mean']:.6f} |")
        if "ours" in results and "seconds" in results["ours"]:
            for impl in ("reference", "salt"):
                if impl in results and "seconds" in results[impl]:
                    speedup = results[impl]['seconds'] / results['ours']['seconds']
                    print(f"\nspeed-up of ours over {impl}: {speedup:.1f}×")
        print()

    if "scaling" in args.parts:
        print(f"## Peak memory vs scan length (cheap 145-channel network, roi 192×192×48, "
              f"x/y {args.scaling_xy[0]}×{args.scaling_xy[1]}, batch {args.batch_size})\n")
        print("| z slices | voxels (M) | windows | preprocess s | inference s | postprocess s | "
              "peak RSS MB (VmHWM) | peak preprocessing / inference / postprocessing MB (sampled) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---|")
        for z in args.scaling_z:
            r = run_sub(args, "scaling_one", ["--z", str(z)])
            if "error" in r:
                print(f"| {z} | failed: {r['error']} | | | | | | |")
                continue
            t, p = r["timings"], r["stage_peak_rss_mb"]
            print(f"| {z} | {np.prod(r['size']) / 1e6:.1f} | {r['windows']} | {t['preprocessing']:.1f} | "
                  f"{t['inference']:.1f} | {t['postprocessing']:.1f} | {r['peak_rss_mb']:.0f} | "
                  f"{p.get('preprocessing', 0):.0f} / {p.get('inference', 0):.0f} / {p.get('postprocessing', 0):.0f} |")
        print()


if __name__ == "__main__":
    main()
