"""The tree panel under the Segment Editor: a burst of 100 ``SegmentModified`` events (one per
stroke) on a segmentation holding every leaf of the published SALT tree (113 segments on the
shared CT's grid). Prints, for the burst, the panel work done before (one full model rebuild —
volumes of every segment by a histogram of the labelmap — per event) and now (the events are
collected and applied once; only the painted segment is measured again). The Qt items are not
included (no Qt here): they made the old way slower still.

    nice -n 19 python benchmarks/tree_panel_events.py [--events 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "SALTSegmentation"), str(REPO / "Testing" / "Python")]


def every_leaf_segmentation():
    """A real segmentation node with one segment per leaf of the published tree, on the shared CT."""
    import numpy as np
    import SimpleITK as sitk
    from saltseg.inference.pipeline import SegmentationResult
    from saltseg.tree.labeltree import LabelTree
    from slicer_test_support import CT_PATH, TREE_PATH, load_ct, new_scene
    from SALTSegmentationLib.scene.importer import import_result

    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    leaves = [leaf for leaf in tree.leaves if tree.label_value(leaf) != tree.background_value]
    ct = sitk.ReadImage(str(CT_PATH))
    shape = sitk.GetArrayFromImage(ct).shape
    k, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    stripes = np.array([tree.label_value(leaf) for leaf in leaves], dtype=np.uint8)[(k * shape[1] + j) // 7 % len(leaves)]
    values = np.repeat(stripes[:, :, None], shape[2], axis=2)
    values[:, :, : shape[2] // 3] = tree.background_value  # some background, as in a real result
    labelmap = sitk.GetImageFromArray(values)
    labelmap.CopyInformation(ct)
    scene = new_scene()
    volume = load_ct(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    import_result(SegmentationResult(labelmap, tree, "benchmark"), node, volume)
    return scene, node, len(leaves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from SALTSegmentationLib.scene.segmentation_watcher import SegmentationWatcher, TreeUpdateBatcher
    from SALTSegmentationLib.scene.subtrees import refresh_tree_panel_model, tree_panel_model

    scene, node, leaves = every_leaf_segmentation()
    segmentation = node.GetSegmentation()
    count = segmentation.GetNumberOfSegments()
    painted = segmentation.GetNthSegmentID(count // 2)
    segment = segmentation.GetSegment(painted)
    model = tree_panel_model(node)

    def before() -> None:  # every event rebuilt the panel's model
        watcher = SegmentationWatcher(lambda: tree_panel_model(node), lambda: None)
        watcher.watch(node)
        for _ in range(args.events):
            segment.Modified()
        watcher.stop()

    def now() -> None:  # collected, applied once, the painted segment only
        batcher = TreeUpdateBatcher(lambda: None, lambda: tree_panel_model(node),
                                    lambda ids: refresh_tree_panel_model(node, model, ids))
        watcher = SegmentationWatcher(batcher.structure_changed, lambda: None, batcher.segment_modified)
        watcher.watch(node)
        for _ in range(args.events):
            segment.Modified()
        batcher.flush()
        watcher.stop()

    def now_without_debounce() -> None:  # for reference: the partial update alone, per event
        for _ in range(args.events):
            refresh_tree_panel_model(node, model, {painted})

    voxels = node.GetSegmentation().GetLayerDataObject(0).GetNumberOfPoints()
    print(f"{count} segments ({leaves} leaves of the published tree), {voxels} voxels, "
          f"burst of {args.events} SegmentModified on one segment; median of {args.repeats}\n")
    print("| panel work for the burst | total ms | ms per event |")
    print("|---|---:|---:|")
    for label, run in (("before: full model rebuild per event", before),
                       ("now: debounced, painted segment only", now),
                       ("(partial update per event, no debounce)", now_without_debounce)):
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        total = statistics.median(times) * 1000
        print(f"| {label} | {total:.1f} | {total / args.events:.2f} |")


if __name__ == "__main__":
    main()
