#!/usr/bin/env python
"""Where one run's time goes: the network versus everything else (reading, resampling, the probe
and its checks, the tree softmax and blending, finishing slices into labels, post-processing,
writing), in wall seconds and in CPU seconds.

Wall time alone cannot say it: the tree softmax of one window runs on worker threads while the
next window's network runs, on the same cores. So the CPU seconds are split too: the reduction's
(thread CPU time inside the reducers), the probe's (process CPU time while the path and runtime
are chosen), the main thread's other work, and the network's (the rest of the process's CPU time:
the runtime's own threads and the calling thread inside it). One run per process; the engine's
functions are wrapped with timers (nothing else changes).

    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz
    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz --option precision=fp32
    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz --ungated   # bf16 past the probe gate
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

from cpu_info import cpu_summary


def wrap(owner, name: str, on_done) -> None:
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        started = (time.perf_counter(), time.thread_time(), time.process_time())
        try:
            return original(*args, **kwargs)
        finally:
            on_done(time.perf_counter() - started[0], time.thread_time() - started[1],
                    time.process_time() - started[2])

    setattr(owner, name, timed)


def _value(text: str):
    """``fp32`` → "fp32", ``0.25`` → 0.25, ``true`` → True."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--ct", required=True, type=Path)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a run option, e.g. precision=fp32, backend=torch, overlap=0.25 (repeatable)")
    parser.add_argument("--ungated", action="store_true", help="lift the bf16 probe gate (benchmark only)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import SimpleITK as sitk
    import torch

    from saltseg.inference import window_network
    from saltseg.inference.backends import select
    from saltseg.inference.leaf_reducers import TreeSoftmaxReducer
    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.model_io import load_model

    torch.set_num_threads(args.threads)
    if args.ungated:
        select.TOLERANCES["bf16"] = (math.inf, 0.0)
    seconds = {"probe wall": 0.0, "probe cpu": 0.0, "reduction cpu": 0.0, "network main cpu": 0.0}
    lock = threading.Lock()

    def probe(wall, thread, process):
        seconds["probe wall"] += wall
        seconds["probe cpu"] += process

    def reduction(wall, thread, process):
        with lock:
            seconds["reduction cpu"] += thread

    def network(wall, thread, process):  # the calling thread inside the runtime (and the probe)
        seconds["network main cpu"] += thread

    wrap(window_network.WindowNetwork, "_choose_path", probe)
    wrap(window_network.WindowNetwork, "__call__", network)
    wrap(TreeSoftmaxReducer, "__call__", reduction)
    options = SegmentOptions(**{name: _value(value) for name, _, value in
                                (item.partition("=") for item in args.option)})
    model = load_model(args.model, "cpu")
    started = (time.perf_counter(), time.process_time(), time.thread_time())
    result = segment_image(sitk.ReadImage(str(args.ct)), model, options)
    with tempfile.TemporaryDirectory() as folder:
        sitk.WriteImage(result.labelmap, str(Path(folder) / "labels.nii.gz"))
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    main_other = time.thread_time() - started[2] - seconds["network main cpu"]  # finishing, copies, I/O
    network_wall = result.stats["network_seconds"] - seconds["probe wall"]
    network_cpu = cpu - main_other - seconds["reduction cpu"] - seconds["probe cpu"]

    print(f"# Where the run went — {cpu_summary()}, {args.threads} threads\n")
    print(f"{result.stats['windows_run']} windows; {result.stats['network']}; precision: "
          f"{result.stats.get('precision', '?')}\n")
    print("| part | wall s | share of wall | CPU s | share of CPU |\n|---|---:|---:|---:|---:|")
    rows = [("network (windows)", network_wall, network_cpu),
            ("probe and runtime checks (first window)", seconds["probe wall"], seconds["probe cpu"]),
            ("tree softmax + blending (worker threads, overlapping the network)", None, seconds["reduction cpu"]),
            ("main thread: finishing slices, copies, pre/post-processing, read/write",
             wall - network_wall - seconds["probe wall"], main_other),
            ("whole run", wall, cpu)]
    for name, part_wall, part_cpu in rows:
        wall_cells = (f"{part_wall:.1f} | {100 * part_wall / wall:.1f} %" if part_wall is not None
                      else "— | —")
        print(f"| {name} | {wall_cells} | {part_cpu:.1f} | {100 * part_cpu / cpu:.1f} % |")
    not_network_cpu = cpu - network_cpu
    print(f"\nNot the network: {100 * (wall - network_wall) / wall:.1f} % of the wall time, "
          f"{100 * not_network_cpu / cpu:.1f} % of the CPU time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
