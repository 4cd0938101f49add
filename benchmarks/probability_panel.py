"""The Slicer module's probability features on a 512×512×300 grid (by default): what each costs on
the main thread, i.e. how long Slicer would not respond.

The scene: the shared CT and its TotalSegmentator labels (41 structures mapped to leaves of the
published SALT tree) upsampled to the grid and imported as the module imports a result, with a
confidence map and one node's map (random bytes: the costs do not depend on the values). Timed:

* importing the maps (reading the engine's uint8 NIfTI files, then the volume nodes);
* the Structures panel: first build with *Sure %* and without it, and the update after a burst of
  ``--strokes`` Segment Editor paint strokes, with and without *Sure %*;
* selecting a structure: its own map (foreground swap only) and the confidence inside a node
  (masked copy), for a small node (kidneys) and the largest (body), and the body's heat map following
  bursts of paint strokes (only the changed slices computed again; checked against numpy);
* *Show uncertain voxels* for the kidneys and for the body.

It also checks that the Sure % shown after the strokes equals a numpy computation.

    nice -n 19 python benchmarks/probability_panel.py [--shape 300x512x512] [--strokes 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "SALTSegmentation"), str(REPO / "Testing" / "Python")]

KIDNEYS, BODY, SPINE = "body,abdominal_cavity,kidneys", "body", "body,bones,spine"


def timed(action, repeat: int = 1) -> tuple[float, object]:
    """(median seconds over ``repeat`` runs, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def panel_costs(editing, tree, strokes: int, radius: int, rng, with_sure: bool) -> tuple[list, object]:
    """The Structures panel's first build and its update after bursts of paint strokes (ms rows),
    and the panel's sync (for its numbers)."""
    import numpy as np
    from editing_support import LIVER, SPLEEN, fire, paint, panel_sync

    sync, drawing, timer = panel_sync()
    sync.enter()
    seconds, _ = timed(lambda: sync.set_segmentation(editing.segmentation))
    rows = [(f"Structures panel, first build {'with' if with_sure else 'without'} Sure %", seconds)]
    liver = np.argwhere(editing.labels[:, ::8, ::8] == tree.label_value(tree.index(LIVER))) * (1, 8, 8)
    burst = []
    for _ in range(3):
        for stroke in range(strokes):
            center = tuple(int(v) for v in liver[rng.integers(len(liver))])
            paint(editing, SPLEEN if stroke % 2 else LIVER, center, radius)
        started = time.perf_counter()
        fire(timer, sync)
        burst.append(time.perf_counter() - started)
    rows.append((f"  update after {strokes} paint strokes {'with' if with_sure else 'without'} Sure %",
                 statistics.median(burst)))
    return rows, sync


def heat_map_following_strokes(editing, tree, overlay, strokes: int, radius: int, rng) -> tuple[list, int, int]:
    """The body's confidence heat map following bursts of paint strokes (the panel's update, then the
    overlay's, as the module wires them): ms rows, voxels different from numpy afterwards, and the
    slices the last burst computed again."""
    import numpy as np
    from editing_support import LIVER, SPLEEN, fire, paint, panel_sync
    from SALTSegmentationLib.scene.probability_maps import confidence_map, map_voxels

    overlay.show(editing.segmentation, BODY)
    follow: list[float] = []
    sync, _, timer = panel_sync()
    sync.on_edited = lambda node, slices: follow.append(timed(lambda: overlay.follow_edits(node, slices))[0])
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    liver = np.argwhere(editing.labels[:, ::8, ::8] == tree.label_value(tree.index(LIVER))) * (1, 8, 8)
    follow.clear()
    for _ in range(3):
        for stroke in range(strokes):
            paint_at = tuple(int(v) for v in liver[rng.integers(len(liver))])
            paint(editing, SPLEEN if stroke % 2 else LIVER, paint_at, radius)
        fire(timer, sync)
    sync.close()
    body = np.isin(editing.labels, tree.subtree_label_values(BODY))
    wrong = int(np.count_nonzero(map_voxels(overlay.volume) != np.where(body, map_voxels(
        confidence_map(editing.segmentation)), 0)))
    return ([(f"  the body's heat map following {strokes} paint strokes (their slices only)",
              statistics.median(follow))], wrong, overlay.recomputed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="300x512x512", help="slices x rows x columns")
    parser.add_argument("--strokes", type=int, default=5)
    parser.add_argument("--radius", type=int, default=6)
    args = parser.parse_args()

    import numpy as np
    import SimpleITK as sitk
    from editing_support import editing_scene
    from saltseg.outputs.probability_maps import confidence_map_path, probability_map_path, write_probability_map
    from saltseg.tree.labeltree import LabelTree
    from slicer_probability_support import add_slice_views, expected_sure
    from slicer_test_support import TREE_PATH
    from SALTSegmentationLib.scene.mrml_helpers import sitk_from_volume
    from SALTSegmentationLib.scene.probability_maps import confidence_map, map_voxels, read_maps, replace_maps
    from SALTSegmentationLib.scene.probability_overlay import ProbabilityOverlay
    from SALTSegmentationLib.scene.sure_tally import SureTally
    from SALTSegmentationLib.scene.uncertain_voxels import add_uncertain_segment

    shape = tuple(int(n) for n in args.shape.split("x"))
    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    editing = editing_scene(tree, shape)
    add_slice_views(editing.scene)
    segments = editing.segmentation.GetSegmentation().GetNumberOfSegments()
    rng = np.random.default_rng(27)
    for _warm_up in range(2):  # the first build also pays for first touches of the scene's memory
        rows, sync = panel_costs(editing, tree, args.strokes, args.radius, rng, with_sure=False)  # before the maps
        sync.close()

    # The engine's files, as a run with Probability maps writes them (not timed: the engine's work).
    folder = Path(tempfile.mkdtemp(prefix="probability-panel-"))
    grid = sitk_from_volume(editing.volume)
    files = {}
    for node, path in (("", confidence_map_path(folder / "result.nrrd")),
                       (SPINE, probability_map_path(folder / "result.nrrd", SPINE))):
        image = sitk.GetImageFromArray(rng.random(shape, dtype=np.float32))
        image.CopyInformation(grid)
        write_probability_map(image, path, "uint8", node or "confidence")
        files[node] = str(path)
    del grid
    seconds, maps = timed(lambda: read_maps({SPINE: files[SPINE]}, files[""], editing.volume))
    rows.append(("read the 2 map files (uint8 NIfTI → bytes)", seconds))
    started = time.perf_counter()
    replace_maps(editing.segmentation, editing.volume, maps, tree)
    rows.append(("the 2 maps as volume nodes (folder, references)", time.perf_counter() - started))
    del maps
    confidence = map_voxels(confidence_map(editing.segmentation))
    panel_rows, sync = panel_costs(editing, tree, args.strokes, args.radius, rng, with_sure=True)
    rows += panel_rows
    expected = expected_sure(tree, editing.labels, confidence)
    shown = {sync.model.node_id(n): sync.model.sure_percent(n) for n in sync.model.shown_nodes()}
    wrong = [node for node, value in shown.items() if abs(value - expected[node]) > 1e-9 * expected[node]]
    recounted = sync.sure.recounted
    fresh = SureTally(confidence_map(editing.segmentation))
    seconds, _ = timed(lambda: fresh.update_model(sync.model, editing.segmentation))
    rows.append(("  of which Sure % counted from scratch (confidence summed per segment)", seconds))
    fresh.release()
    sync.close()

    overlay = ProbabilityOverlay()
    for node, label in ((SPINE, "its own map"), (KIDNEYS, "confidence inside"), (BODY, "confidence inside")):
        seconds, _ = timed(lambda node=node: overlay.show(editing.segmentation, node), repeat=3)
        rows.append((f"select {node.rsplit(',', 1)[-1]}: heat map of {label}", seconds))
    follow_rows, heat_map_wrong, recomputed = heat_map_following_strokes(editing, tree, overlay, args.strokes,
                                                                        args.radius, rng)
    rows += follow_rows
    seconds, _ = timed(overlay.clear)
    rows.append(("clear the heat map (views given back)", seconds))
    for node in (KIDNEYS, BODY):
        seconds, region = timed(lambda node=node: add_uncertain_segment(editing.segmentation, node))
        rows.append((f"Show uncertain voxels: {node.rsplit(',', 1)[-1]} ({region.voxels:,} voxels)", seconds))

    voxels = int(np.prod(shape))
    print(f"{shape[2]}x{shape[1]}x{shape[0]} voxels ({voxels:,}), "
          f"{segments} segments, a confidence map and one "
          "node's map (uint8)\n")
    print("| main-thread work | ms |")
    print("|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1000:.0f} |")
    print(f"\nSure % different from numpy after the strokes: {len(wrong)} of {len(shown)} nodes; "
          f"slices counted again for Sure % in the last burst: {recounted} of {shape[0]}")
    print(f"Heat map of the body after the strokes: {heat_map_wrong:,} voxels different from numpy; "
          f"slices computed again in the last burst: {recomputed} of {shape[0]}")


if __name__ == "__main__":
    main()
