#!/usr/bin/env python
"""The whole-body table: a 512×512×600 CT at 0.8×0.8×1.5 mm (the shared CT centred in air and
mirrored along z), windows counted exactly as the engine places them, and time per preset/runtime.

Counting is cheap and exact: the CT is preprocessed by the engine (resampled to the model's 1.5 mm,
273×273×600) and the windows of the default preset (SALT's placement, overlap 0.5) and of
``--fast`` (overlap 0.25, windows holding only air skipped, checked on the real voxels) are
counted. Times are either measured (run ``salt_vs_saltseg.py --no-salt --inputs wholebody512``)
or, with ``--per-window RUNTIME=SECONDS`` (seconds per window of a full run, e.g. wall / windows of
the shared 30-slice CT run with that runtime), extrapolated as windows × seconds — the table says
which. Peak memory comes from the engine's own pre-flight estimate (``saltseg.inference.memory``).

    python benchmarks/whole_body_table.py --per-window "torch fp32=8.1" "OpenVINO fp32=4.2"
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SIZE, SPACING = (512, 512, 600), (0.8, 0.8, 1.5)
ROI, MODEL_SPACING = (192, 192, 48), (1.5, 1.5, 1.5)
#: Published CPU figures of other whole-body segmenters, with the hardware as published.
PUBLISHED = [
    ("TotalSegmentator, full resolution (1.5 mm), CPU", "40–50 min",
     "per SlicerTotalSegmentator's README; CPU not stated"),
    ("TotalSegmentator `--fast` (3 mm), CPU", "≈ 1 min", "per SlicerTotalSegmentator's README; CPU not stated"),
    ("SlicerMONAIAuto3DSeg, whole-body TS2 model, CPU", "184 s", "per its README; hardware not stated"),
    ("SlicerMONAIAuto3DSeg, whole-body TS2 model, GPU", "49.5 s", "per its README; hardware not stated"),
]


def count_windows(volume: np.ndarray, overlap: float, skip_below=None) -> tuple[int, int]:
    """(windows placed, windows run) for the engine's SALT placement on ``volume`` [X, Y, Z]."""
    import torch

    from saltseg.inference.window_placement import pad_volume, scan_positions, trim_constant_slices

    z0, z1 = trim_constant_slices(volume)
    padded, _ = pad_volume(torch.from_numpy(np.ascontiguousarray(volume[:, :, z0:z1])), ROI, 0.0, "salt")
    axes = [scan_positions(n, r, overlap) for n, r in zip(padded.shape, ROI)]
    total = run = 0
    for x, y, z in itertools.product(*axes):
        total += 1
        window = padded[x:x + ROI[0], y:y + ROI[1], z:z + ROI[2]]
        run += skip_below is None or bool(window.max() >= skip_below)
    return total, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-window", nargs="*", default=[], metavar="RUNTIME=SECONDS",
                        help="seconds per window of a whole run with that runtime (extrapolated rows)")
    args = parser.parse_args()

    from types import SimpleNamespace

    import torch

    from benchmark_engine import whole_body_ct
    from saltseg.inference.memory import estimate_memory
    from saltseg.inference.options import FAST_OVERLAP
    from saltseg.inference.pipeline import SegmentOptions, air_threshold
    from saltseg.inference.preprocess import prepare_volume

    image = whole_body_ct(str(DATA / "example_ct.nii.gz"), SIZE, SPACING)
    volume = prepare_volume(image, MODEL_SPACING, None).array  # SALT's model: clip, no statistics
    default = count_windows(volume, 0.5)
    fast = count_windows(volume, FAST_OVERLAP, air_threshold(SegmentOptions.fast(), SimpleNamespace(intensity=None)))
    memory = estimate_memory(int(np.prod(image.GetSize())), volume.shape, ROI, 145, 114, 1, torch.device("cpu"))
    print(f"# Whole-body CT {'×'.join(map(str, SIZE))} at {'×'.join(map(str, SPACING))} mm → processing grid "
          f"{'×'.join(map(str, volume.shape))} at 1.5 mm\n")
    print(f"windows: default {default[1]} / {default[0]}, `--fast` {fast[1]} run / {fast[0]} placed; "
          f"engine's memory estimate {memory.describe()}\n")
    print("| run | windows | wall | how |")
    print("|---|---:|---:|---|")
    for entry in args.per_window:
        name, _, seconds = entry.partition("=")
        for preset, (_, run) in (("default", default), ("`--fast`", fast)):
            print(f"| saltseg {preset}, {name} | {run} | ≈ {run * float(seconds) / 60:.0f} min | "
                  f"extrapolated: {run} × {float(seconds):.1f} s/window |")
    for name, wall, note in PUBLISHED:
        print(f"| {name} | | {wall} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
