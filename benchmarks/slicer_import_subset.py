#!/usr/bin/env python
"""Importing a SALT result into real MRML (slicer-core): every structure against a 10-structure subset.

A synthetic labelmap in which all 113 anatomical leaves of the published tree are present (blocks
of slices × columns) on a CT grid of ``--size`` voxels is imported into a vtkMRMLSegmentationNode
the way the module does (``import_result``), then the same result restricted to 10 structures
(``--only``-style: ``restrict_labelmap``). Also the closed-surface (3D) conversion Slicer runs
when the segmentation is shown in 3D. Seconds by ``time.perf_counter``, best of ``--repeats``.

    python benchmarks/slicer_import_subset.py                       # 256×256×200, needs ../shared/data
    python benchmarks/slicer_import_subset.py --size 512 512 300 --no-3d
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SALTSegmentation"))
sys.path.insert(0, str(REPO / "Testing" / "Python"))

SUBSET = ["liver", "spleen", "kidney_left", "kidney_right", "stomach", "urinary_bladder", "vertebrae_L1",
          "vertebrae_L2", "vertebrae_L3", "aorta_abdominalis"]


def synthetic_result(size, tree):
    from saltseg.inference.pipeline import SegmentationResult

    nx, ny, nz = size
    leaves = len(tree.leaves)
    z_block = (np.arange(nz) * 12 // nz)[:, None, None]
    x_block = (np.arange(nx) * 10 // nx)[None, None, :]
    labels = np.broadcast_to(((z_block * 10 + x_block) % (leaves - 1) + 1).astype(np.uint8), (nz, ny, nx)).copy()
    labels[:, : ny // 8, :] = tree.background_value
    labels[:, -ny // 8:, :] = tree.background_value
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((1.5, 1.5, 2.0))
    ct = sitk.GetImageFromArray(np.random.default_rng(0).normal(40, 200, (nz, ny, nx)).astype(np.int16))
    ct.CopyInformation(image)
    return SegmentationResult(image, tree, "benchmark"), ct


def timed_import(result, ct_path: Path, surfaces: bool) -> tuple[float, float, int]:
    from slicer_test_support import load_ct, new_scene
    from SALTSegmentationLib.scene.importer import import_result

    scene = new_scene()
    volume = load_ct(scene, ct_path)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    node.CreateDefaultDisplayNodes()
    started = time.perf_counter()
    import_result(result, node, volume)
    imported = time.perf_counter() - started
    surface = float("nan")
    if surfaces:
        started = time.perf_counter()
        node.CreateClosedSurfaceRepresentation()
        surface = time.perf_counter() - started
    return imported, surface, node.GetSegmentation().GetNumberOfSegments()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(256, 256, 200), metavar=("X", "Y", "Z"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-3d", dest="surfaces", action="store_false", help="skip the 3D surface conversion")
    args = parser.parse_args()

    from saltseg.analysis.subsets import resolve_structures, restrict_labelmap
    from saltseg.tree.labeltree import LabelTree
    from slicer_test_support import TREE_PATH

    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    full, ct = synthetic_result(tuple(args.size), tree)
    started = time.perf_counter()
    subset_labels = restrict_labelmap(full.labelmap, tree, resolve_structures(tree, SUBSET))
    restrict_s = time.perf_counter() - started
    subset = type(full)(subset_labels, tree, "benchmark")
    with tempfile.TemporaryDirectory() as folder:
        ct_path = Path(folder) / "ct.nrrd"
        sitk.WriteImage(ct, str(ct_path))
        rows = []
        for label, result in (("every structure", full), ("10 structures", subset)):
            runs = [timed_import(result, ct_path, args.surfaces) for _ in range(args.repeats)]
            rows.append((label, runs[0][2], min(r[0] for r in runs), min(r[1] for r in runs)))
    print(f"grid {args.size[0]}×{args.size[1]}×{args.size[2]}; restricting the labelmap to 10 structures: "
          f"{restrict_s:.2f} s (engine side)")
    print("| result | segments | import (s) | 3D surfaces (s) |")
    print("|---|---|---|---|")
    for label, segments, imported, surface in rows:
        print(f"| {label} | {segments} | {imported:.2f} | {surface:.1f} |")


if __name__ == "__main__":
    main()
