#!/usr/bin/env python
"""Where one run's time goes: the network versus everything else (reading, resampling, the probe
and its checks, the tree softmax and blending, finishing slices into labels, post-processing,
writing), in wall seconds and in CPU seconds.

Wall time alone cannot say it: the tree softmax of one window runs on worker threads while the
next window's network runs, on the same cores. So the CPU seconds are split too: the reduction's
(thread CPU time inside the reducers), the probe's (process CPU time while the path and runtime
are chosen), the network's (process CPU time during the network calls, less the probe's and the
reductions that finished meanwhile), the main thread's other work, and the remainder (other
threads: slices labelled on the workers, resampling, copies). The engine's functions are wrapped
with timers (nothing else changes).

On a machine with few cores that split flatters the run: while the reduction's threads run, the
network's threads wait for a core, and that wait counts as network time. So a second run of the
same windows measures **the network alone** (the windows' output is dropped once the probe has
chosen the path and runtime; its labels are meaningless), and the share that is not the network
is also given as what the whole run costs beyond it. On the features path the network's last
layer, its pointwise output convolution, runs in the reducer: the network-alone run still applies
it, per chunk on the worker threads as the engine does, and its CPU time is given too (with
SALT's 145 nodes it is a matrix product of 145 × 32 per voxel, about half of the reducer's time).
``--pairs N`` (default 3) alternates N of each and takes medians.

    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz
    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz --option precision=fp32
    nice -n 5 python benchmarks/run_breakdown.py --model DIR --ct ct.nii.gz --ungated   # bf16 past the probe gate
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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


@dataclass
class RunTimes:
    wall: float  # the whole run, reading the result back included (seconds)
    cpu: float
    network_wall: float  # inside the network calls, the probe excluded
    network_cpu: float
    probe_wall: float
    probe_cpu: float
    reduction_cpu: float
    main_other_cpu: float  # the main thread outside the network calls
    head_cpu: float = 0.0  # network alone: its output convolution, applied per chunk (worker threads)
    windows: int = 0
    network: str = ""
    precision: str = ""


class Instruments:
    """Timers around the engine's network calls, probe and reducers; optionally drops the windows'
    output once the path is chosen (the network-alone run)."""

    def __init__(self) -> None:
        import torch

        from saltseg.inference import window_network
        from saltseg.inference.leaf_reducers import TreeSoftmaxReducer

        self.lock = threading.Lock()
        self.network_alone = False
        self.reset()
        wrap(window_network.WindowNetwork, "_choose_path", self._probe_done)
        original_network = window_network.WindowNetwork.__call__
        original_reducer = TreeSoftmaxReducer.__call__
        times = self

        def network(network_self, *args, **kwargs):
            started = (time.perf_counter(), time.process_time(), time.thread_time())
            times.in_network = True
            try:
                return original_network(network_self, *args, **kwargs)
            finally:
                times.in_network = False
                times.seconds["network call wall"] += time.perf_counter() - started[0]
                times.seconds["network call cpu"] += time.process_time() - started[1]
                times.seconds["network main cpu"] += time.thread_time() - started[2]
                times.chosen = True

        def reducer(reducer_self, chunk, weight, out):
            if times.network_alone and times.chosen:
                if reducer_self.head is not None:  # the network's output convolution, as the engine runs it
                    started = time.thread_time()
                    head_weight, head_bias = reducer_self._heads[True]
                    rows = reducer_self._workspace(chunk.shape[1], chunk.device).rows
                    torch.addmm(head_bias, head_weight, chunk.float(), out=rows)
                    spent = time.thread_time() - started
                    with times.lock:
                        times.seconds["head cpu"] += spent
                        if times.in_network:
                            times.seconds["head cpu in network calls"] += spent
                return
            started = time.thread_time()
            try:
                original_reducer(reducer_self, chunk, weight, out)
            finally:
                spent = time.thread_time() - started
                with times.lock:
                    times.seconds["reduction cpu"] += spent
                    if times.in_network:  # finished while a network call ran: counted in its process time
                        times.seconds["reduction cpu in network calls"] += spent

        window_network.WindowNetwork.__call__ = network
        TreeSoftmaxReducer.__call__ = reducer

    def reset(self) -> None:
        self.chosen = False
        self.in_network = False
        self.seconds = dict.fromkeys(("probe wall", "probe cpu", "reduction cpu", "network main cpu",
                                      "network call wall", "network call cpu",
                                      "reduction cpu in network calls", "head cpu",
                                      "head cpu in network calls"), 0.0)

    def _probe_done(self, wall: float, thread: float, process: float) -> None:
        self.seconds["probe wall"] += wall
        self.seconds["probe cpu"] += process


def one_run(args, instruments: Instruments, network_alone: bool) -> RunTimes:
    import SimpleITK as sitk

    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.model_io import load_model

    instruments.reset()
    instruments.network_alone = network_alone
    options = SegmentOptions(**{name: _value(value) for name, _, value in
                                (item.partition("=") for item in args.option)})
    model = load_model(args.model, "cpu")
    started = (time.perf_counter(), time.process_time(), time.thread_time())
    result = segment_image(sitk.ReadImage(str(args.ct)), model, options)
    with tempfile.TemporaryDirectory() as folder:
        sitk.WriteImage(result.labelmap, str(Path(folder) / "labels.nii.gz"))
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    seconds = instruments.seconds
    main_other = time.thread_time() - started[2] - seconds["network main cpu"]  # copies, pre/post, I/O
    # The probe runs inside the first network call; the reductions overlapping the calls are theirs.
    network_wall = seconds["network call wall"] - seconds["probe wall"]
    network_cpu = (seconds["network call cpu"] - seconds["probe cpu"] - seconds["reduction cpu in network calls"]
                   - seconds["head cpu in network calls"] + seconds["head cpu"])  # the head wherever it ran
    return RunTimes(wall, cpu, network_wall, network_cpu, seconds["probe wall"], seconds["probe cpu"],
                    seconds["reduction cpu"], main_other, seconds["head cpu"], result.stats["windows_run"],
                    result.stats["network"], result.stats.get("precision", "?"))


def median_run(runs: list[RunTimes]) -> RunTimes:
    fields = {name: statistics.median(getattr(run, name) for run in runs)
              for name in ("wall", "cpu", "network_wall", "network_cpu", "probe_wall", "probe_cpu",
                           "reduction_cpu", "main_other_cpu", "head_cpu")}
    return RunTimes(**fields, windows=runs[0].windows, network=runs[0].network, precision=runs[0].precision)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--ct", required=True, type=Path)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a run option, e.g. precision=fp32, backend=torch, overlap=0.25 (repeatable)")
    parser.add_argument("--ungated", action="store_true", help="lift the bf16 probe gate (benchmark only)")
    parser.add_argument("--threads", type=int, default=2)
    # One pair's difference swung by 3-5 points of the run from hour to hour on a shared 2-vCPU machine.
    parser.add_argument("--pairs", type=int, default=3, help="whole runs and network-alone runs, alternated")
    args = parser.parse_args()

    import torch

    from saltseg.inference.backends import select

    torch.set_num_threads(args.threads)
    if args.ungated:
        select.TOLERANCES["bf16"] = (math.inf, 0.0)
    instruments = Instruments()
    whole_runs, alone_runs = [], []
    for _ in range(args.pairs):
        whole_runs.append(one_run(args, instruments, network_alone=False))
        alone_runs.append(one_run(args, instruments, network_alone=True))
    run, alone = median_run(whole_runs), median_run(alone_runs)

    print(f"# Where the run went — {cpu_summary()}, {args.threads} threads"
          f"{f', median of {args.pairs} alternating pairs' if args.pairs > 1 else ''}\n")
    print(f"{run.windows} windows; {run.network}; precision: {run.precision}\n")
    print("| part | wall s | share of wall | CPU s | share of CPU |\n|---|---:|---:|---:|---:|")
    rows = [("network (windows)", run.network_wall, run.network_cpu),
            ("probe and runtime checks (first window)", run.probe_wall, run.probe_cpu),
            ("tree softmax + blending (worker threads, overlapping the network)", None, run.reduction_cpu),
            ("main thread: copies, waits, pre/post-processing, read/write",
             run.wall - run.network_wall - run.probe_wall, run.main_other_cpu),
            ("other threads: labelling slices, resampling, multi-threaded copies", None,
             run.cpu - run.network_cpu - run.probe_cpu - run.reduction_cpu - run.main_other_cpu),
            ("whole run", run.wall, run.cpu)]
    for name, part_wall, part_cpu in rows:
        wall_cells = (f"{part_wall:.1f} | {100 * part_wall / run.wall:.1f} %" if part_wall is not None
                      else "— | —")
        print(f"| {name} | {wall_cells} | {part_cpu:.1f} | {100 * part_cpu / run.cpu:.1f} % |")
    print(f"\nNot the network, as split above: {100 * (run.wall - run.network_wall) / run.wall:.1f} % of the wall "
          f"time, {100 * (run.cpu - run.network_cpu) / run.cpu:.1f} % of the CPU time.")
    head = (f", its output convolution ({alone.head_cpu:.1f} CPU-s of it) applied per chunk as the engine "
            "applies it" if alone.head_cpu else "")
    print(f"The network alone (same windows, output dropped{head}): {alone.network_wall:.1f} s wall, "
          f"{alone.network_cpu:.1f} CPU-s. Beyond it, the whole run costs "
          f"{run.wall - alone.network_wall:.1f} s wall ({100 * (run.wall - alone.network_wall) / run.wall:.1f} % "
          f"of the run) and {run.cpu - alone.network_cpu:.1f} CPU-s "
          f"({100 * (run.cpu - alone.network_cpu) / run.cpu:.1f} %).")
    if alone.head_cpu:
        without_head = alone.network_cpu - alone.head_cpu
        print(f"Counting the output convolution as not the network: beyond it "
              f"{100 * (run.cpu - without_head) / run.cpu:.1f} % of the CPU time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
