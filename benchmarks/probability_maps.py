#!/usr/bin/env python
"""What probability maps cost: time and peak memory of 0, 1, 5 and 20 maps on the shared CT.

The published 145-node tree with the intensity-threshold model in SALT's format (a cheap network,
so the table shows the maps' cost, not the network's; the tree softmax and blending of all 114
leaves run as for the published model) on the full shared CT (122×101×112 at 3 mm; ``--spacing
1.5`` for SALT's grid, 8× the voxels). Each row is a fresh process: ``segment_image`` with that
many maps (breadth-first nodes: the top of the tree first, then its leaves), then every map
written as ``saltseg segment`` writes it (uint8 NIfTI). Columns: wall and CPU seconds (user +
system, ``getrusage``: robust on a shared machine), peak RSS (``/proc`` VmHWM), the peak of numpy's
allocations during segmenting (``tracemalloc``; the maps are numpy arrays, torch's slab is not
traced), and the maps the result keeps.

    python benchmarks/probability_maps.py                       # needs ../shared/data
    python benchmarks/probability_maps.py --counts 0 1 --spacing 1.5 --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
TREE = DATA / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_model(folder: Path, spacing: float, roi: list[int]) -> Path:
    from saltseg.model.threshold_model import export_threshold_model
    from saltseg.tree.labeltree import LabelTree

    model = folder / f"threshold-{spacing:g}mm-{'x'.join(map(str, roi))}"
    if not (model / "model.pt").is_file():
        export_threshold_model(model, LabelTree.from_tree_labels_file(TREE), roi_size=roi,
                               voxel_spacing=(spacing, spacing, spacing))
    return model


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(args: argparse.Namespace) -> dict:
    import tracemalloc

    import SimpleITK as sitk
    import torch

    sys.path.insert(0, str(HERE))
    from process_memory import peak_rss_mb, rss_mb
    from saltseg.inference.node_probabilities import NodeMapAccumulator
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.model_io import load_model
    from saltseg.outputs.plan import OutputPlan

    torch.set_num_threads(args.threads)
    # The maps' only work while segmenting: reading the finished slices. Timed on its own, since
    # the whole run's time on a shared machine varies by more than that; blocks are recorded on
    # several threads at once, so this is the CPU time of those threads inside it.
    in_maps = [0.0]
    lock = threading.Lock()
    record = NodeMapAccumulator.record

    def timed_record(self, xs, zs, scores):
        started = time.thread_time()
        record(self, xs, zs, scores)
        with lock:
            in_maps[0] += time.thread_time() - started

    NodeMapAccumulator.record = timed_record  # type: ignore[method-assign]
    model = load_model(args.model, "cpu")
    image = sitk.ReadImage(str(args.ct))
    tree = model.tree
    nodes = [tree.node_id(node) for node in tree.topological_order()[:args.worker]]
    baseline = rss_mb()
    tracemalloc.start()
    started, cpu = time.perf_counter(), cpu_seconds()
    result = segment_image(image, model, SegmentOptions(backend="torch", precision="fp32"), probabilities=nodes)
    segmented, segment_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak_segment = peak_rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        plan = OutputPlan.of(Path(folder) / "ct.nii.gz", probabilities=nodes)
        started, cpu = time.perf_counter(), cpu_seconds()
        written = plan.write(result, image)
        write_s, write_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        bytes_on_disk = sum(path.stat().st_size for path in written if ".prob." in path.name)
    return {"maps": args.worker, "maps_s": in_maps[0], "segment_s": segmented, "segment_cpu_s": segment_cpu,
            "write_s": write_s, "write_cpu_s": write_cpu, "traced_peak_mb": traced_peak, "baseline_mb": baseline,
            "peak_segment_mb": peak_segment, "peak_mb": peak_rss_mb(),
            "kept_mb": (result.probabilities.nbytes / 2**20) if result.probabilities is not None else 0.0,
            "disk_kb": bytes_on_disk / 1024, "grid": list(result.probabilities.grid.size) if result.probabilities
            else None, "windows": result.stats.get("windows")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 5, 20])
    parser.add_argument("--spacing", type=float, default=3.0)
    parser.add_argument("--roi", type=int, nargs=3, default=[64, 64, 32])
    parser.add_argument("--ct", type=Path, default=DATA / "example_ct.nii.gz")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "saltseg-probability-bench")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    model = build_model(args.work, args.spacing, args.roi)
    rows = []
    for count in args.counts:
        command = [sys.executable, __file__, "--worker", str(count), "--model", str(model), "--ct", str(args.ct),
                   "--threads", str(args.threads)]
        run = subprocess.run(command, capture_output=True, text=True, check=True,
                             env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    base = rows[0]
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs, torch threads {args.threads}); CT {args.ct.name}, "
          f"{args.spacing:g} mm, roi {'x'.join(map(str, args.roi))}, {base['windows']} windows, published tree "
          "(145 nodes, 114 leaves), threshold model\n")
    print("| maps | segment wall s | segment CPU s | of it reading the maps CPU s | write maps wall s | write CPU s | "
          "peak RSS MiB | numpy peak while segmenting MiB | maps kept MiB | on disk KiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['maps']} | {row['segment_s']:.1f} | {row['segment_cpu_s']:.1f} | {row['maps_s']:.2f} | "
              f"{row['write_s']:.2f} | "
              f"{row['write_cpu_s']:.2f} | {row['peak_mb']:.0f} | {row['traced_peak_mb']:.1f} | "
              f"{row['kept_mb']:.1f} | {row['disk_kb']:.0f} |")
    if len(rows) > 1 and rows[-1]["maps"] > base["maps"]:
        last, extra = rows[-1], rows[-1]["maps"] - base["maps"]
        print(f"\nper extra map (last row against the first): "
              f"{(last['maps_s'] - base['maps_s']) / extra:.3f} CPU s reading it from the slab, "
              f"{last['write_cpu_s'] / max(last['maps'], 1):.3f} CPU s writing, "
              f"{(last['traced_peak_mb'] - base['traced_peak_mb']) / extra:+.2f} MiB numpy peak, "
              f"{(last['peak_mb'] - base['peak_mb']) / extra:+.1f} MiB peak RSS (noisy: the heap)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
