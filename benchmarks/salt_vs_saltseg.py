#!/usr/bin/env python
"""SALT's own pipeline and saltseg on the same model.pt and the same CTs, in one run.

For each model (``--arch``: ``tiny`` and/or ``full`` DynUNet, exported with SALT's own
``TreeSoftmax`` from ``--salt-repo``, traced and frozen as ``salt/export.py`` does) and each input
(``--inputs``), SALT's pipeline (``compare_with_salt.py``'s ``salt`` worker: ``predict.py``'s
pieces on the CPU) and saltseg's ``segment_image`` (one subprocess per saltseg preset in
``--presets``) run in their own processes. Printed: wall time, peak RSS (VmHWM), window count,
seconds per window for the network vs the rest, and label agreement with SALT on the input grid
(all voxels, and voxels that either pipeline labels as foreground). ``--model-folder`` adds models of
one's own (e.g. trained with ``saltseg train --architecture salt``), ``--ct-file`` CTs of one's own.

Inputs (made from the shared data): ``ct30`` the 30-slice CT; ``ct30_ras`` the same voxels stored
in another orientation; ``ct30_oblique`` resampled onto a grid rotated 12° about z; ``dicom`` the
20-slice DICOM series (shorter than one window), converted to NIfTI; ``ct112`` the full 112-slice CT
(several windows long); ``wholebody`` ≈ 330×330×600 at 1.5 mm (the CT centred in air, mirrored
along z); ``wholebody512`` 512×512×600 at 0.8×0.8×1.5 mm, the same way (``whole_body_table.py``'s CT,
resampled by the engine as usual). With ``--no-salt`` the agreement columns compare each preset with the first one.

``--pairs N`` runs SALT and the presets alternately N times (SALT, presets, SALT, presets, …) and
then prints each pipeline's wall time and peak RSS (min / median / max) and, per preset, the ratio
SALT / saltseg of each pair and its median: on a shared machine the ratio of runs made next to each
other is steadier than either time alone. Presets: ``default`` is the README's quick start (the
runtime and precision chosen automatically: OpenVINO when installed, bf16 on CPUs with native
bf16); ``*-fp32`` force float32, ``*-bf16`` force bf16.

    nice -n 5 python benchmarks/salt_vs_saltseg.py --salt-repo /tmp/salt_ref --arch tiny --inputs ct30 dicom
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from compare_with_salt import run_worker
from model_zoo import ARCHITECTURES, build_model
from process_memory import gnu_time_report, peak_rss_mb, rss_mb, with_gnu_time

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_TREE = DATA / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"
INPUTS = ("ct30", "ct30_ras", "ct30_oblique", "dicom", "ct112", "wholebody", "wholebody512")
PRESETS = {
    "default": {},
    "skip-air": {"skip_air": True},
    "fast": "fast",
    "torch": {"backend": "torch"},
    "openvino": {"backend": "openvino"},
    "torch-fp32": {"backend": "torch", "precision": "fp32"},
    "openvino-fp32": {"backend": "openvino", "precision": "fp32"},
    "torch-bf16": {"backend": "torch", "precision": "bf16"},
    "openvino-bf16": {"backend": "openvino", "precision": "bf16"},
    "fast-torch": ("fast", {"backend": "torch"}),
    "whole-model": {"whole_model": True, "backend": "torch"},
    # The quick start's options with the bf16 probe gate lifted (benchmark only): what a model whose
    # probe agrees gets, measured on a model whose probe does not (random weights refuse bf16).
    "default-ungated": {},
}


def make_input(name: str, folder: Path, wholebody_slices: int = 600) -> Path:
    import SimpleITK as sitk

    path = folder / (f"{name}-{wholebody_slices}.nii.gz" if name.startswith("wholebody") else f"{name}.nii.gz")
    if path.is_file():
        return path
    if name == "ct30":
        image = sitk.ReadImage(str(DATA / "example_ct_sm.nii.gz"))
    elif name == "ct112":
        image = sitk.ReadImage(str(DATA / "example_ct.nii.gz"))
    elif name == "ct30_ras":
        image = sitk.DICOMOrient(sitk.ReadImage(str(DATA / "example_ct_sm.nii.gz")), "RAS")
    elif name == "ct30_oblique":
        source = sitk.ReadImage(str(DATA / "example_ct_sm.nii.gz"))
        angle = math.radians(12.0)
        rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
        direction = np.asarray(source.GetDirection()).reshape(3, 3) @ rotation
        centre = source.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in source.GetSize()])
        reference = sitk.Image(source.GetSize(), source.GetPixelID())
        reference.SetSpacing(source.GetSpacing())
        reference.SetDirection(direction.ravel().tolist())
        offset = direction @ (np.array(source.GetSpacing()) * (np.array(source.GetSize()) - 1) / 2)
        reference.SetOrigin((np.array(centre) - offset).tolist())
        image = sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, -1024.0)
    elif name == "wholebody":  # ≈ 330×330×600 at 1.5 mm: the CT in air, mirrored along z
        from benchmark_engine import whole_body_ct

        image = whole_body_ct(str(DATA / "example_ct.nii.gz"), (330, 330, wholebody_slices), (1.5, 1.5, 1.5))
    elif name == "wholebody512":  # issue 18's whole-body CT: 512×512×600 at 0.8×0.8×1.5 mm (whole_body_table.py)
        from benchmark_engine import whole_body_ct

        image = whole_body_ct(str(DATA / "example_ct.nii.gz"), (512, 512, wholebody_slices), (0.8, 0.8, 1.5))
    elif name == "dicom":
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(DATA / "example_ct_dicom")))
        image = reader.Execute()
    else:
        raise ValueError(name)
    sitk.WriteImage(image, str(path))
    return path


def worker_ours(args) -> dict:
    import SimpleITK as sitk

    from saltseg.inference.backends import select
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.model_io import load_model

    if args.preset.endswith("-ungated"):
        select.TOLERANCES["bf16"] = (math.inf, 0.0)
    preset = PRESETS[args.preset]
    if isinstance(preset, tuple):  # ("fast", changes)
        options = SegmentOptions.fast(**preset[1])
    else:
        options = SegmentOptions.fast() if preset == "fast" else SegmentOptions(**preset)
    model = load_model(args.model, "cpu")
    baseline = rss_mb()
    started = time.perf_counter()
    image = sitk.ReadImage(args.ct)
    result = segment_image(image, model, options)
    sitk.WriteImage(result.labelmap, str(Path(args.out) / f"ours-{args.preset}.nii.gz"))
    wall = time.perf_counter() - started  # read to write, as SALT's side (load+preprocessing … SaveImaged)
    stats = {k: v for k, v in result.stats.items()}
    return {"wall": wall, "timings": result.timings, "stats": stats, "baseline_rss_mb": baseline,
            "peak_rss_mb": peak_rss_mb()}


def run_ours(args, model_dir: Path, ct: Path, out: Path, preset: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--model", str(model_dir), "--ct", str(ct), "--out", str(out),
               "--preset", preset, "--threads", str(args.threads)]
    process = subprocess.run(with_gnu_time(command), capture_output=True, text=True, timeout=args.timeout)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-4000:])
        raise SystemExit(f"saltseg worker failed ({process.returncode})")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["cpu"] = gnu_time_report(process.stderr)  # user / system seconds of the whole process
    return result


def cpu_cells(cpu: dict) -> str:
    """``user s | system s (share)`` from ``/usr/bin/time -v`` (blank without it)."""
    if "user_s" not in cpu:
        return " | "
    total = cpu["user_s"] + cpu["system_s"]
    return f"{cpu['user_s']:.1f} | {cpu['system_s']:.1f} ({100 * cpu['system_s'] / max(total, 1e-9):.0f} %)"


def agreement(reference: str, ours_path: Path, ct_path: Path, background: int) -> tuple[float, float]:
    import SimpleITK as sitk

    ct = sitk.ReadImage(str(ct_path))
    saved = sitk.ReadImage(reference)
    # SALT's SaveImaged writes the processing grid; map it onto the input grid by nearest neighbour
    # through physical space, as saltseg does with its own labels.
    salt = sitk.GetArrayFromImage(sitk.Resample(saved, ct, sitk.Transform(), sitk.sitkNearestNeighbor,
                                                float(background), saved.GetPixelID())).astype(np.int64)
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(ours_path))).astype(np.int64)
    foreground = (salt != background) | (ours != background)
    return float((salt == ours).mean()), float((salt == ours)[foreground].mean()) if foreground.any() else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--salt-repo", default="")
    parser.add_argument("--arch", nargs="*", choices=ARCHITECTURES, default=["tiny"],
                        help="built-in models (none: only --model-folder)")
    parser.add_argument("--inputs", nargs="*", choices=INPUTS, default=["ct30"],
                        help="CTs made from the shared data (none: only --ct-file)")
    parser.add_argument("--model-folder", type=Path, nargs="+", default=[],
                        help="models in the official format (model.pt + config.pkl) to run as well as --arch, "
                             "e.g. a network trained with saltseg train --architecture salt")
    parser.add_argument("--ct-file", type=Path, nargs="+", default=[], help="CTs to run as well as --inputs")
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["default"])
    parser.add_argument("--no-salt", action="store_true", help="only saltseg (e.g. presets side by side)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/saltseg_salt_vs"))
    parser.add_argument("--wholebody-slices", type=int, default=600,
                        help="z size of the whole-body input (600 ≈ 90 cm at 1.5 mm; less for a quicker run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--pairs", type=int, default=1, help="alternate SALT and the presets this many times")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--ct", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker_ours(args)))
        return 0

    from saltseg.tree.labeltree import LabelTree

    tree = LabelTree.from_tree_labels_file(DEFAULT_TREE)
    background = tree.background_value or 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    salt_repo = str(Path(args.salt_repo).resolve()) if args.salt_repo else ""
    print(f"# SALT's pipeline vs saltseg — torch {torch.__version__}, {args.threads} threads\n")
    versus = "SALT" if not args.no_salt else f"saltseg {args.presets[0]}"
    print("| model | input | pipeline | wall s | peak RSS MiB | user s | system s (% of CPU) | windows run / all | "
          f"network s/window | rest s | labels = {versus} | foreground = {versus} | network path |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    walls: dict = {}  # (arch, input, pipeline) → [(wall s, peak RSS MiB) per pair]
    models = [(arch, build_model(arch, args.workdir / "models", str(DEFAULT_TREE), salt_repo=salt_repo))
              for arch in args.arch] + [(folder.name, folder) for folder in args.model_folder]
    cts = [(name, make_input(name, args.workdir, args.wholebody_slices)) for name in args.inputs]
    cts += [(path.name.split(".")[0], path) for path in args.ct_file]
    for arch, model_dir in models:
        model_background = background_value(model_dir, background)
        for name, ct in cts:
            out = args.workdir / "runs" / arch / name
            out.mkdir(parents=True, exist_ok=True)
            for _ in range(args.pairs):
                run_pair(args, arch, name, model_dir, ct, out, salt_repo, model_background, walls)
    if args.pairs > 1:
        print_pairs(walls, args.no_salt)
    return 0


def background_value(model_dir: Path, default: int) -> int:
    """The label value of the model's background leaf (its own tree, not the published one)."""
    from saltseg.model.model_io import read_config

    value = read_config(Path(model_dir) / "config.pkl").tree.background_value
    return default if value is None else value


def run_pair(args, arch: str, name: str, model_dir: Path, ct: Path, out: Path, salt_repo: str, background: int,
             walls: dict) -> None:
    """SALT's pipeline (unless ``--no-salt``), then each preset, one table row each."""
    salt = None
    if not args.no_salt:
        ns = argparse.Namespace(model_dir=model_dir, ct=ct, salt_repo=salt_repo, threads=args.threads)
        salt = run_worker("salt", ns, out, args.timeout)
        wall = sum(salt["timings"].values())
        walls.setdefault((arch, name, "SALT predict.py"), []).append((wall, salt["peak_rss_mb"]))
        print(f"| {arch} | {name} | SALT predict.py | {wall:.1f} | {salt['peak_rss_mb']:.0f} | | | | "
              f"| | | | model.pt whole |", flush=True)
    reference = salt["saved"] if salt is not None else None
    for preset in args.presets:
        ours = run_ours(args, model_dir, ct, out, preset)
        stats = ours["stats"]
        run = max(stats["windows_run"], 1)
        rest = ours["wall"] - stats["network_seconds"]
        walls.setdefault((arch, name, f"saltseg {preset}"), []).append((ours["wall"], ours["peak_rss_mb"]))
        agree = ("—", "—")
        if reference is not None:
            a, f = agreement(reference, out / f"ours-{preset}.nii.gz", ct, background)
            agree = (f"{100 * a:.3f} %", f"{100 * f:.3f} %")
        else:
            reference = str(out / f"ours-{preset}.nii.gz")
        path = stats["network"] + (f"; {stats['precision']}" if stats.get("precision") else "")
        print(f"| {arch} | {name} | saltseg {preset} | {ours['wall']:.1f} | {ours['peak_rss_mb']:.0f} | "
              f"{cpu_cells(ours['cpu'])} | {stats['windows_run']} / {stats['windows']} | "
              f"{stats['network_seconds'] / run:.2f} | "
              f"{rest:.1f} | {agree[0]} | {agree[1]} | {path} |", flush=True)


def print_pairs(walls: dict, no_salt: bool) -> None:
    """Min / median / max per pipeline and, per preset, SALT / saltseg of each pair."""
    import statistics

    print("\n| model | input | pipeline | runs | wall s (min / median / max) | peak RSS MiB (median) "
          "| SALT / this, per pair | median ratio (wall) | RSS / SALT's (median) |")
    print("|---|---|---|---:|---|---:|---|---:|---:|")
    for (arch, name, pipeline), runs in walls.items():
        times = [wall for wall, _ in runs]
        rss = statistics.median(peak for _, peak in runs)
        salt = walls.get((arch, name, "SALT predict.py"))
        ratios, rss_ratio = "", ""
        if salt is not None and not no_salt and pipeline != "SALT predict.py":
            pairs = [s_wall / wall for (s_wall, _), (wall, _) in zip(salt, runs)]
            ratios = ", ".join(f"{ratio:.2f}×" for ratio in pairs)
            rss_ratio = f"{rss / statistics.median(peak for _, peak in salt):.2f}"
            median_ratio = f"**{statistics.median(pairs):.2f}×**"
        else:
            median_ratio = ""
        print(f"| {arch} | {name} | {pipeline} | {len(runs)} | {min(times):.1f} / {statistics.median(times):.1f} / "
              f"{max(times):.1f} | {rss:.0f} | {ratios} | {median_ratio} | {rss_ratio} |")


if __name__ == "__main__":
    sys.exit(main())
