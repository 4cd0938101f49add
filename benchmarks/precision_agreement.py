#!/usr/bin/env python
"""bfloat16 against float32 over whole runs: does ``--precision auto``'s probe gate mean anything?

For each model (``--models``: ``demo``, the bundled trained demo model; ``full``, SALT's published
architecture with seeded random weights, ``model_zoo.py``; or a model folder) and each input (``--inputs``: ``ct30``
the shared 30-slice CT, ``ct112`` the whole shared CT, ``phantom<SEED>`` a ``saltseg phantom`` of
that seed, never used in the demo model's training), every runtime (``--runtimes`` torch,
openvino) segments the input at float32 and at bf16, each run in its own process through
``segment_image`` with default options otherwise. The bf16 runs are forced past the probe gate
(its tolerances are lifted in that process), so the whole run is measured whatever the probe said;
the table gives what the real gate decided on the probe next to it.

Printed per run: the precision the runtime really ran (OpenVINO reads it back), the probe's
verdict (leaf labels equal to torch fp32 on the probe window, max |Δ logit| relative to the
largest, and whether the real gate — ``TOLERANCES["bf16"]`` — accepts it), and over the whole run
the labels equal to torch fp32 (SALT's labels) and to the same runtime's fp32, on all voxels and on
foreground voxels (labelled non-background by either run), with the wall time.

    nice -n 5 python benchmarks/precision_agreement.py --models demo --inputs ct30 ct112 phantom3000 phantom3001
    nice -n 5 python benchmarks/precision_agreement.py --models full --inputs ct30 phantom3000 --crop-slices 48
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from process_memory import peak_rss_mb

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_TREE = DATA / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"
DEMO_MODEL = HERE.parent / "SALTSegmentation" / "saltseg" / "resources" / "models" / "salt-phantom-demo"


def model_folder(name: str, workdir: Path) -> Path:
    if name == "demo":
        return DEMO_MODEL
    if Path(name).is_dir():
        return Path(name)
    if name not in ("full", "tiny"):
        raise SystemExit(f"--models: {name!r} is neither demo, full, tiny nor a model folder")
    from model_zoo import build_model

    return build_model(name, workdir / "models", str(DEFAULT_TREE))


def make_input(name: str, workdir: Path, crop_slices: int) -> Path:
    """The input's file; a phantom is generated once (``crop_slices`` > 0: only that many slices
    of its middle, along its last axis, so the published architecture stays within minutes)."""
    import SimpleITK as sitk

    if name == "ct30":
        return DATA / "example_ct_sm.nii.gz"
    if name == "ct112":
        return DATA / "example_ct.nii.gz"
    if not name.startswith("phantom"):
        raise SystemExit(f"unknown input {name!r}")
    path = workdir / "inputs" / f"{name}{f'-crop{crop_slices}' if crop_slices else ''}.nii.gz"
    if not path.is_file():
        from saltseg.phantom.generator import generate_phantom

        image = generate_phantom(int(name[len("phantom"):])).image
        if crop_slices and image.GetSize()[2] > crop_slices:
            start = (image.GetSize()[2] - crop_slices) // 2
            image = image[:, :, start:start + crop_slices]
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(path))
    return path


def worker(args) -> dict:
    import SimpleITK as sitk
    import torch

    from saltseg.inference.backends import select
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.inference import window_network
    from saltseg.model.model_io import load_model

    torch.set_num_threads(args.threads)
    gate = select.TOLERANCES["bf16"]
    if args.precision == "bf16":  # measure the whole run whatever the probe says; the verdict is kept
        select.TOLERANCES["bf16"] = (math.inf, 0.0)
    verdicts = []
    original = window_network.WindowNetwork._choose_path

    def choose(self, window):
        original(self, window)
        verdicts.extend(self.verdicts)

    window_network.WindowNetwork._choose_path = choose
    model = load_model(args.model, "cpu")
    started = time.perf_counter()
    result = segment_image(sitk.ReadImage(args.input), model,
                           SegmentOptions(backend=args.runtime, precision=args.precision))
    wall = time.perf_counter() - started
    sitk.WriteImage(result.labelmap, args.out)
    probe = next((v for v in verdicts if v.precision == args.precision), None)
    return {"wall": wall, "peak_rss_mb": peak_rss_mb(), "network": result.stats["network"],
            "ran": probe.precision if probe else "fp32",
            "probe": None if probe is None else {
                "agreement": probe.agreement, "relative_difference": probe.relative_difference,
                "gate": probe.relative_difference <= gate[0] and probe.agreement >= gate[1]}}


def run_worker(args, model: Path, ct: Path, runtime: str, precision: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "--model", str(model), "--input", str(ct), "--runtime",
               runtime, "--precision", precision, "--out", str(out), "--threads", str(args.threads)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-4000:])
        raise SystemExit(f"worker failed ({process.returncode}): {' '.join(command)}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def agreement(a: Path, b: Path, background: int) -> tuple[float, float]:
    import SimpleITK as sitk

    x = sitk.GetArrayFromImage(sitk.ReadImage(str(a)))
    y = sitk.GetArrayFromImage(sitk.ReadImage(str(b)))
    foreground = (x != background) | (y != background)
    return float((x == y).mean()), float((x == y)[foreground].mean()) if foreground.any() else 1.0


def percent(value: float) -> str:
    return f"{100 * value:.3f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo"],
                        help="demo, full, tiny, or a model folder (e.g. the published SALT model)")
    parser.add_argument("--inputs", nargs="+", default=["ct30", "phantom3000"])
    parser.add_argument("--runtimes", nargs="+", choices=("torch", "openvino"), default=["torch", "openvino"])
    parser.add_argument("--crop-slices", type=int, default=0, help="phantoms: keep only this many middle slices")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/saltseg_precision_agreement"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("model", "input", "runtime", "precision", "out"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    from saltseg.inference.backends.select import TOLERANCES
    from saltseg.model.model_io import load_model
    from cpu_info import cpu_summary

    logit_tolerance, label_agreement = TOLERANCES["bf16"]
    print(f"# bf16 vs fp32 over whole runs — {cpu_summary()}, {args.threads} threads\n")
    print(f"Probe gate (TOLERANCES['bf16']): ≥ {100 * label_agreement:g} % of the probe's leaf labels equal to "
          f"torch fp32 and max |Δ logit| ≤ {100 * logit_tolerance:g} % of the largest.\n")
    print("| model | input | runtime | precision ran | probe: labels = fp32 | probe: max Δ logit / largest | gate "
          "| run: voxels = torch fp32 | run: foreground = torch fp32 | run: voxels = same runtime fp32 "
          "| run: foreground = same runtime fp32 | wall s |")
    print("|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for model_name in args.models:
        model_dir = model_folder(model_name, args.workdir)
        tree = load_model(model_dir, "cpu").tree
        background = tree.background_value if tree.background_value is not None else 0
        for input_name in args.inputs:
            ct = make_input(input_name, args.workdir, args.crop_slices)
            out = args.workdir / "runs" / Path(model_name).name / input_name
            out.mkdir(parents=True, exist_ok=True)
            fp32 = {}
            for runtime in sorted(args.runtimes, key=lambda name: name != "torch"):  # torch fp32 first: the reference
                for precision in ("fp32", "bf16"):
                    labels = out / f"{runtime}-{precision}.nii.gz"
                    run = run_worker(args, model_dir, ct, runtime, precision, labels)
                    if precision == "fp32":
                        fp32[runtime] = labels
                    reference = fp32.get("torch", labels)
                    all_t, fg_t = agreement(reference, labels, background)
                    all_r, fg_r = agreement(fp32[runtime], labels, background)
                    probe = run["probe"]
                    cells = [model_name, input_name, runtime, run["ran"],
                             percent(probe["agreement"]) if probe else "—",
                             f"{100 * probe['relative_difference']:.1f} %" if probe else "—",
                             ("accepts" if probe["gate"] else "**refuses**") if probe else "—",
                             percent(all_t), percent(fg_t), percent(all_r), percent(fg_r), f"{run['wall']:.1f}"]
                    print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
