#!/usr/bin/env python
"""A whole-body CT end to end on a CUDA GPU, within 10 minutes of device time.

For a session that has a GPU (never run by CI). Builds SALT's published architecture (DynUNet,
145 channels, roi 192×192×48 at 1.5 mm, seeded random weights) with saltseg's TreeSoftmax,
traced and frozen ON THE GPU as ``salt/export.py`` does (so ``model.pt`` carries ``cuda:0`` device
literals), makes a whole-body-sized CT (512×512×600 at 0.8×0.8×1.5 mm, resampled by the engine
to 1.5 mm as usual: the shared CT centred in air and mirrored along z, or a synthetic body when
``../shared/data`` is absent), and runs ``segment_image`` with: the default options (SALT's
windows, network features + chunked tree softmax, float16 autocast), ``fp32`` (the same in float32:
the float16/float32 label agreement), ``--fast``, ``--whole-model`` (model.pt run whole, as SALT's
pipeline does) and air skipping. Prints wall time per stage, windows, network seconds, peak GPU
memory (``torch.cuda.max_memory_allocated``), peak RSS, and label agreement of each run with the
default (all voxels and foreground).

Budget: every run checks the time left (``--budget-s``, default 480 s of work after the model is
built) and is skipped, saying so, when the previous one suggests it would not fit.

    python benchmarks/cuda_whole_body.py                 # on the GPU machine
    python benchmarks/cuda_whole_body.py --device cpu    # smoke test: tiny network, small CT
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
DEFAULT_CT = HERE.parent.parent / "shared" / "data" / "example_ct.nii.gz"
BUNDLED_TREE = HERE.parent / "SALTSegmentation" / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"
ROI = (192, 192, 48)
SPACING = (1.5, 1.5, 1.5)
#: The whole-body CT of benchmarks/README.md's whole-body table: 512×512×600 at 0.8×0.8×1.5 mm.
WHOLE_BODY_SIZE, WHOLE_BODY_SPACING = (512, 512, 600), (0.8, 0.8, 1.5)


def build(folder: Path, device: str, tiny: bool) -> Path:
    import torch
    from monai.networks.nets import DynUNet

    from saltseg.model.export import export_model
    from saltseg.tree.labeltree import LabelTree

    sys.path.insert(0, str(HERE))
    from benchmark_engine import kernels_and_strides

    tree = LabelTree.from_tree_labels_file(BUNDLED_TREE)
    kernels, strides = kernels_and_strides(ROI, SPACING)
    filters = [4, 8, 8, 16, 16, 16][:len(strides)] if tiny else None
    torch.manual_seed(0)
    network = DynUNet(3, 1, len(tree), kernel_size=kernels, strides=strides, upsample_kernel_size=strides[1:],
                      filters=filters, res_block=True).eval()
    return export_model(network, tree, folder, ROI, SPACING, kernel_sizes=kernels, strides=strides,
                        trace_device=device)


def whole_body(size, smoke: bool, spacing=SPACING):
    import SimpleITK as sitk

    if DEFAULT_CT.is_file():
        sys.path.insert(0, str(HERE))
        from benchmark_engine import whole_body_ct

        return whole_body_ct(str(DEFAULT_CT), size, spacing), "shared CT in air, mirrored along z"
    from saltseg.synthetic_ct import synthetic_ct

    image = synthetic_ct(size=tuple(size), spacing=spacing)
    return sitk.Cast(image, sitk.sitkInt16), "synthetic body (../shared/data absent)"


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke test")
    parser.add_argument("--size", type=int, nargs=3, default=None,
                        help="CT size in voxels (default 512 512 600; smoke: 120 120 90)")
    parser.add_argument("--spacing", type=float, nargs=3, default=None,
                        help="CT voxel spacing in mm (default 0.8 0.8 1.5; smoke: 1.5 1.5 1.5)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="seconds of runs after the model is built")
    parser.add_argument("--runs", nargs="+", default=["default", "fp32", "fast", "whole-model", "skip-air"],
                        choices=["default", "fp32", "whole-model", "fast", "skip-air"])
    args = parser.parse_args()

    import SimpleITK as sitk
    import torch

    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.model_io import load_model

    smoke = args.device == "cpu"
    if not smoke and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for the smoke test", file=sys.stderr)
        return 2
    size = args.size or ([120, 120, 90] if smoke else list(WHOLE_BODY_SIZE))
    spacing = args.spacing or (SPACING if smoke else WHOLE_BODY_SPACING)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="saltseg_cuda_"))
    model_dir = build(work / "model", args.device, tiny=smoke)
    image, source = whole_body(size, smoke, spacing)
    model = load_model(model_dir, args.device)
    setup = time.perf_counter() - started
    name = torch.cuda.get_device_name() if not smoke else "CPU (smoke test)"
    print(f"# Whole-body CT end to end — {name}, torch {torch.__version__}\n")
    print(f"CT {'×'.join(map(str, image.GetSize()))} at {'×'.join(f'{s:g}' for s in spacing)} mm ({source}); "
          f"{'tiny' if smoke else 'full'} DynUNet traced on {args.device}; setup {setup:.0f} s\n")
    print("| run | wall s | preprocessing s | inference s | postprocessing s | windows run / all | network s | "
          "peak GPU MiB | peak RSS MiB | labels = default | foreground = default | network path |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    options = {"default": SegmentOptions(), "fp32": SegmentOptions(mixed_precision=False),
               "whole-model": SegmentOptions(whole_model=True),
               "fast": SegmentOptions.fast(), "skip-air": SegmentOptions(skip_air=True)}
    deadline = time.perf_counter() + args.budget_s
    reference = None
    last_wall = 0.0
    for run in args.runs:
        if time.perf_counter() + 1.2 * last_wall > deadline:
            print(f"| {run} | skipped: would not fit in --budget-s {args.budget_s:.0f} | | | | | | | | | | |")
            continue
        if not smoke:
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        begin = time.perf_counter()
        result = segment_image(image, model, options[run])
        if not smoke:
            torch.cuda.synchronize()
        wall = time.perf_counter() - begin
        last_wall = max(last_wall, wall)
        labels = sitk.GetArrayViewFromImage(result.labelmap)
        if reference is None:
            reference = labels.copy()
        agree = float((labels == reference).mean())
        background = result.tree.background_value or 0
        foreground = (labels != background) | (reference != background)
        agree_fg = float((labels == reference)[foreground].mean()) if foreground.any() else 1.0
        gpu = torch.cuda.max_memory_allocated() / 2**20 if not smoke else float("nan")
        t, s = result.timings, result.stats
        print(f"| {run} | {wall:.1f} | {t['preprocessing']:.1f} | {t['inference']:.1f} | {t['postprocessing']:.1f} | "
              f"{s['windows_run']} / {s['windows']} | {s['network_seconds']:.1f} | {gpu:.0f} | {peak_rss_mib():.0f} | "
              f"{100 * agree:.3f} % | {100 * agree_fg:.3f} % | {s['network']} |", flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
