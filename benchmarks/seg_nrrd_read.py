#!/usr/bin/env python
"""Seconds to read a ``.seg.nrrd`` into one labelmap (what ``saltseg stats`` and ``saltseg evaluate``
do first): one full-volume mask per segment against one lookup table per shared labelmap layer.

A synthetic 512×512×600 segmentation with 24 segments of the published SALT tree (blocks of slices
and columns, background outside a central box), written with the project's own writer
(``saltseg.io.writers.write_seg_nrrd``, one shared layer, gzip). Both readers start from the same
``slicerio.read_segmentation`` (decompressing the file), timed on its own; each is checked to give
the identical labelmap. Measured with ``time.perf_counter``.

    python benchmarks/seg_nrrd_read.py
    python benchmarks/seg_nrrd_read.py --size 256 256 200 --segments 40 --folder /tmp/bench
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicerio

from saltseg.analysis.segmentation_file import read_tree_segmentation
from saltseg.io.writers import write_seg_nrrd
from saltseg.tree.labeltree import LabelTree

BUNDLED_TREE = Path(__file__).resolve().parents[1] / "SALTSegmentation" / "saltseg" / "resources" / \
    "saros+totalseg-tree-labels.txt"


def synthetic_labelmap(size: tuple[int, int, int], tree: LabelTree, segments: int) -> sitk.Image:
    """``segments`` leaves of ``tree`` (background excluded) in blocks of slices × columns."""
    nx, ny, nz = size
    values = [v for v in range(len(tree.leaves)) if v != tree.background_value][:segments]
    z_block = (np.arange(nz) * 6 // nz)[:, None, None]
    x_block = (np.arange(nx) * 4 // nx)[None, None, :]
    lookup = np.asarray(values, dtype=np.uint8)
    labels = np.broadcast_to(lookup[(z_block * 4 + x_block) % len(values)], (nz, ny, nx)).copy()
    labels[:, : ny // 8, :] = 0
    labels[:, -ny // 8:, :] = 0
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.8, 0.8, 1.5))
    image.SetOrigin((-204.8, -204.8, -900.0))
    return image


def per_segment(path: Path) -> np.ndarray:
    """The straightforward way: one full-volume mask per segment, painted in segment order."""
    document = slicerio.read_segmentation(str(path))
    voxels = np.asarray(document["voxels"])
    layers = voxels if voxels.ndim == 4 else voxels[np.newaxis]
    segments = document["segments"]
    combined = np.zeros(layers.shape[1:], dtype=np.uint16 if len(segments) >= 255 else np.uint8)
    for index, segment in enumerate(segments):
        mask = layers[segment.get("layer", 0)] == segment["labelValue"]
        np.any(combined[mask])  # the overlap check it made for every segment
        combined[mask] = index + 1
    return sitk.GetArrayFromImage(sitk.GetImageFromArray(combined.transpose(2, 1, 0)))


def _best(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 600), metavar=("X", "Y", "Z"))
    parser.add_argument("--segments", type=int, default=24)
    parser.add_argument("--tree", type=Path, default=BUNDLED_TREE)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=None,
                        help="where to write the file (default: a temporary folder)")
    args = parser.parse_args()

    tree = LabelTree.from_tree_labels_file(args.tree)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        path = Path(folder) / "synthetic.seg.nrrd"
        started = time.perf_counter()
        write_seg_nrrd(synthetic_labelmap(tuple(args.size), tree, args.segments), path, tree)
        written = time.perf_counter() - started
        voxels = int(np.prod(args.size))
        print(f"{args.size[0]}×{args.size[1]}×{args.size[2]} = {voxels / 1e6:.0f} M voxels, "
              f"{args.segments} segments, {path.stat().st_size / 1e6:.1f} MB (written in {written:.1f} s)")
        decompress, _ = _best(lambda: slicerio.read_segmentation(str(path)), args.repeats)
        before, old = _best(lambda: per_segment(path), args.repeats)
        after, new = _best(lambda: read_tree_segmentation(path), args.repeats)
        identical = np.array_equal(old, sitk.GetArrayViewFromImage(new.labelmap))

    print("| what | seconds |")
    print("|---|---:|")
    print(f"| slicerio.read_segmentation alone (decompressing; both readers start with it) | {decompress:.2f} |")
    print(f"| one full-volume mask per segment | {before:.2f} |")
    print(f"| one lookup per shared layer (`read_tree_segmentation`) | {after:.2f} |")
    print(f"\nbest of {args.repeats}; speed-up {before / after:.1f}×; identical labelmaps: {identical}")


if __name__ == "__main__":
    main()
