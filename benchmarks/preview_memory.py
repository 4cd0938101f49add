"""Peak memory of the PNG preview (``--preview``) on a large CT: what rendering it adds on top of
the CT and its labelmap already in memory.

    python benchmarks/preview_memory.py [--size 512 512 600] [--spacing 0.8 0.8 1.0]

Each rendering runs in a fresh process: the CT (int16) and a labelmap (uint8) are built, the
kernel's peak-RSS mark is reset (``/proc/self/clear_refs``, Linux), and the preview is rendered;
the table shows the resident memory before, the peak during, and the peak added.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_memory import peak_rss_mb, rss_mb  # noqa: E402


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current RSS


def _measure(size: list[int], spacing: list[float]) -> dict:
    import gc

    import numpy as np
    import SimpleITK as sitk

    from saltseg.io.preview import render_preview
    from saltseg.tree.labeltree import LabelTree

    resources = Path(__file__).resolve().parents[1] / "SALTSegmentation" / "saltseg" / "resources"
    tree = LabelTree.from_tree_labels_file(resources / "saros+totalseg-tree-labels.txt")
    z, y, x = size[2], size[1], size[0]
    ct = np.full((z, y, x), -1000, np.int16)
    labels = np.zeros((z, y, x), np.uint8)
    rng = np.random.default_rng(0)
    for value in range(1, 40):  # boxes of tissue with labels, so the busiest-slice search has work
        a, b, c = (int(rng.integers(0, n - n // 4)) for n in (z, y, x))
        ct[a:a + z // 5, b:b + y // 5, c:c + x // 5] = int(rng.integers(-100, 300))
        labels[a:a + z // 5, b:b + y // 5, c:c + x // 5] = value
    image, labelmap = sitk.GetImageFromArray(ct), sitk.GetImageFromArray(labels)
    del ct, labels
    for item in (image, labelmap):
        item.SetSpacing(spacing)
        item.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # stored RAS-like: the preview must reorient
    gc.collect()
    _reset_peak()
    before = rss_mb()
    started = time.perf_counter()
    rgb = render_preview(image, labelmap, tree)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    return {"before_mb": before, "peak_mb": peak, "added_mb": peak - before, "seconds": seconds,
            "inputs_mb": (image.GetNumberOfPixels() * 3) / 2**20, "png": list(rgb.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=[512, 512, 600])
    parser.add_argument("--spacing", type=float, nargs=3, default=[0.8, 0.8, 1.0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.size, args.spacing)))
        return
    command = [sys.executable, __file__, "--child", "--size", *map(str, args.size),
               "--spacing", *map(str, args.spacing)]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    print(f"| CT {'×'.join(map(str, args.size))} int16 + uint8 labels ({result['inputs_mb']:.0f} MB) "
          f"| RSS before {result['before_mb']:.0f} MB | peak {result['peak_mb']:.0f} MB "
          f"| added by the preview {result['added_mb']:.0f} MB | {result['seconds']:.1f} s "
          f"| PNG {result['png'][1]}×{result['png'][0]} |")


if __name__ == "__main__":
    main()
