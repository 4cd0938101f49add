#!/usr/bin/env python
"""Throughput of ``saltseg batch`` against ``saltseg segment`` run once per file.

On one set of phantoms (demo model ``salt-phantom-demo``, CPU) it measures, side by side in one run:

* ``saltseg segment`` per file, each in a fresh process (``--per-file`` files): wall time per case,
  which pays for the interpreter, the imports, loading the model and its first (warm-up) calls;
* ``saltseg batch`` (Python API ``run_batch``) with 1 and with 2 local Dask worker processes on all
  cases: wall time including the cluster start, cases/hour, and the worker's own seconds per case;
* in a fresh process, what per-file runs repeat and a batch worker does once: imports, model load.

"Saved per case" is the per-file wall time minus the 1-worker batch's worker seconds per case (both
use all cores for one case at a time). Only ratios from one run mean anything on a shared machine.

    nice -n 19 python benchmarks/batch_throughput.py                 # 6 phantoms, 3 per-file runs
    nice -n 19 python benchmarks/batch_throughput.py --cases 12 --per-file 4 --slices 32
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "salt-phantom-demo"


def write_phantoms(folder: Path, count: int, slices: int) -> list[Path]:
    import SimpleITK as sitk

    from saltseg.phantom import generate_phantom

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(5000, 5000 + count):
        image = generate_phantom(seed, spacing_range=8.0, field_of_view="chest_abdomen").image
        middle = image.GetSize()[2] // 2
        path = folder / f"phantom_{seed}.nii.gz"
        sitk.WriteImage(image[:, :, max(0, middle - slices // 2):middle + slices // 2], str(path), True)
        paths.append(path)
    return paths


def per_file_seconds(paths: list[Path], outdir: Path) -> list[float]:
    """Wall time of one ``saltseg segment`` process per file."""
    outdir.mkdir(parents=True, exist_ok=True)
    times = []
    for path in paths:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "saltseg", "segment", str(path), "-o",
                        str(outdir / f"{path.name[:-7]}.seg.nrrd"), "--model", MODEL, "--device", "cpu",
                        "--quiet"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def startup_costs() -> dict[str, float]:
    """Imports and model load in a fresh process: what every per-file run pays again."""
    code = ("import time; t=time.perf_counter(); import saltseg.cli, saltseg.inference.pipeline; "
            "i=time.perf_counter()-t; from saltseg.models import resolve_model_dir; "
            "from saltseg.model.model_io import load_model; t=time.perf_counter(); "
            f"load_model(resolve_model_dir('{MODEL}'), 'cpu'); print(i, time.perf_counter()-t)")
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    total = time.perf_counter() - started
    imports, load = (float(v) for v in output.split())
    return {"process": total, "imports": imports, "model load": load}


def batch_run(folder: Path, outdir: Path, workers: int) -> tuple[float, list]:
    from saltseg.batch import run_batch

    started = time.perf_counter()
    records = run_batch([folder], outdir, model=MODEL, device="cpu", workers=workers, progress=False)
    wall = time.perf_counter() - started
    failed = [r for r in records if r.status != "done"]
    if failed:
        raise SystemExit(f"batch failed: {failed[0].case}: {failed[0].error}")
    return wall, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=6, help="phantoms in the batch (default 6)")
    parser.add_argument("--per-file", type=int, default=3, help="of them, run with saltseg segment (default 3)")
    parser.add_argument("--slices", type=int, default=24, help="8 mm slices per phantom (default 24)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="saltseg-batch-bench-") as tmp:
        root = Path(tmp)
        paths = write_phantoms(root / "in", args.cases, args.slices)
        startup = startup_costs()
        single = per_file_seconds(paths[: args.per_file], root / "per_file")
        runs = {workers: batch_run(root / "in", root / f"batch_{workers}", workers) for workers in (1, 2)}

    per_file = statistics.mean(single)
    print(f"\n{args.cases} phantoms (8 mm, {args.slices} slices, chest/abdomen), model {MODEL}, CPU, "
          f"{os.cpu_count()} cores\n")
    print("| run | cases | wall s | s per case (wall) | worker s per case | cases/hour |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| `saltseg segment` per file | {len(single)} | {sum(single):.1f} | {per_file:.2f} | – | "
          f"{3600 / per_file:.0f} |")
    for workers, (wall, records) in runs.items():
        worker_s = statistics.mean(r.seconds for r in records)
        print(f"| `saltseg batch`, {workers} worker{'s' if workers > 1 else ''} | {len(records)} | {wall:.1f} | "
              f"{wall / len(records):.2f} | {worker_s:.2f} | {3600 * len(records) / wall:.0f} |")
    one_worker = statistics.mean(r.seconds for r in runs[1][1])
    print("\n| paid once per worker instead of once per file | s |")
    print("|---|---:|")
    for name, seconds in startup.items():
        print(f"| {name} (fresh process{'' if name == 'process' else ', part'}) | {seconds:.2f} |")
    print(f"| saved per case: per-file wall − 1-worker batch worker s | {per_file - one_worker:.2f} "
          f"({100 * (per_file - one_worker) / per_file:.0f} % of a per-file run) |")
    print(f"\nthroughput ratio, 2 workers / 1 worker: {runs[1][0] / runs[2][0]:.2f}×; "
          f"1-worker batch / per file (cases per hour): {(3600 * args.cases / runs[1][0]) / (3600 / per_file):.2f}×")


if __name__ == "__main__":
    main()
