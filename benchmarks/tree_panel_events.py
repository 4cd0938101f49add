"""The Structures panel while a SALT result is corrected in the Segment Editor, with its CT: the
main-thread work per paint burst, on a 512×512×300 grid by default.

The scene: the shared CT and its TotalSegmentator labels (41 structures mapped to leaves of the
published SALT tree) upsampled to the grid and imported as the module imports a result. A burst is
``--strokes`` Paint strokes (balls of ``--radius`` voxels, made as the Segment Editor's Paint effect
makes them, "Overwrite all": the spleen painted over liver voxels and the liver grown), then the
panel's timer fires once. Timed per burst (the strokes themselves are Slicer's work, not timed):

* before — what the panel ran per burst until issue 25: the painted segment's voxels counted in its
  layer, and every node's statistics measured again over the whole CT (copy of the CT, every layer
  resampled onto its grid, one pass over all voxels for all 145 nodes) for the mean HUs;
* now — :class:`TreePanelSync`'s update: changed layers compared with their copy, changed slices
  counted again, the tree sums redone (what the widget runs when its timer fires, drawing excepted).

It also checks that the numbers shown after the last burst equal a numpy computation from the
label array, and prints the first build of the panel (entering the module).

    nice -n 19 python benchmarks/tree_panel_events.py [--shape 300x512x512] [--bursts 5] [--strokes 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "SALTSegmentation"), str(REPO / "Testing" / "Python")]


def work_before(node, volume, painted: str) -> None:
    """The panel's main-thread work per burst before the incremental measurements."""
    import numpy as np
    from vtk.util import numpy_support
    from SALTSegmentationLib.scene.statistics_table import segmentation_statistics

    segment = node.GetSegmentation().GetSegment(painted)
    image = segment.GetRepresentation("Binary labelmap")
    np.count_nonzero(numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()) == segment.GetLabelValue())
    segmentation_statistics(node, volume)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="300x512x512", help="slices x rows x columns")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--strokes", type=int, default=5)
    parser.add_argument("--radius", type=int, default=6)
    args = parser.parse_args()

    import numpy as np
    from editing_support import (LIVER, SPLEEN, editing_scene, expected_numbers, fire, paint, panel_numbers,
                                 panel_sync)
    from slicer_test_support import TREE_PATH
    from saltseg.tree.labeltree import LabelTree

    shape = tuple(int(n) for n in args.shape.split("x"))
    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    editing = editing_scene(tree, shape)
    sync, drawing, timer = panel_sync()
    started = time.perf_counter()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    first_build = time.perf_counter() - started

    liver_value = tree.label_value(tree.index(LIVER))
    liver = np.argwhere(editing.labels[:, ::8, ::8] == liver_value) * (1, 8, 8)
    rng = np.random.default_rng(25)
    now, before, recounted = [], [], []
    for _burst in range(args.bursts):
        for stroke in range(args.strokes):
            center = tuple(int(v) for v in liver[rng.integers(len(liver))])
            paint(editing, SPLEEN if stroke % 2 else LIVER, center, args.radius)
        started = time.perf_counter()
        fire(timer, sync)
        now.append(time.perf_counter() - started)
        recounted.append(sync.measurements.recounted)
        started = time.perf_counter()
        work_before(editing.segmentation, editing.volume, ",".join(SPLEEN))
        before.append(time.perf_counter() - started)

    spacing = editing.volume.GetSpacing()
    expected = expected_numbers(editing, spacing[0] * spacing[1] * spacing[2] / 1000.0)
    shown = panel_numbers(sync.model)
    wrong = [node for node, (volume, mean_hu) in shown.items()
             if abs(volume - expected[node][1]) > 1e-9 * max(1.0, expected[node][1])
             or abs(mean_hu - expected[node][2]) > 1e-9 * max(1.0, abs(expected[node][2]))]
    voxels = int(np.prod(shape))
    segments = editing.segmentation.GetSegmentation().GetNumberOfSegments()
    print(f"{shape[2]}x{shape[1]}x{shape[0]} voxels ({voxels:,}), {segments} "
          f"segments with the CT; {args.bursts} bursts of {args.strokes} strokes (radius {args.radius} voxels)\n")
    print("| panel work per paint burst (main thread) | median ms | max ms |")
    print("|---|---:|---:|")
    for label, times in (("before: painted segment counted + full statistics for the mean HUs", before),
                         ("now: changed slices counted again, tree sums redone", now)):
        print(f"| {label} | {statistics.median(times) * 1000:.1f} | {max(times) * 1000:.1f} |")
    print(f"\nslices counted again per burst: {recounted} (of {shape[0]}); first build of the panel "
          f"(entering the module): {first_build * 1000:.0f} ms; nodes shown: {len(shown)}, "
          f"numbers different from numpy: {len(wrong)}")


if __name__ == "__main__":
    main()
