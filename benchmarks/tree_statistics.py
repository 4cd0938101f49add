#!/usr/bin/env python
"""Seconds to compute the statistics of every node of the published SALT tree (145 nodes).

A synthetic CT of 512×512×500 voxels (int16 HU with noise) and a labelmap in which every one of
the 113 anatomical leaves (plus background) occupies a block of slices and columns, so every node
is non-empty. Measured with ``time.perf_counter``; one pass over the voxels for all nodes, against
the naive way (one masked numpy pass per node, measured on a few nodes and extrapolated).

    python benchmarks/tree_statistics.py                      # needs ../shared/data (the tree)
    python benchmarks/tree_statistics.py --size 256 256 200 --tree path/to/tree-labels.txt
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from saltseg.analysis.statistics import leaf_label_nodes, tree_statistics
from saltseg.tree.labeltree import LabelTree

DEFAULT_TREE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "salt_label_trees" / \
    "saros+totalseg" / "tree-labels.txt"


def synthetic_case(size: tuple[int, int, int], leaves: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    nx, ny, nz = size
    rng = np.random.default_rng(seed)
    # Labels: leaf value by (slice block, column block); background outside a central box.
    z_block = (np.arange(nz) * 12 // nz)[:, None, None]
    x_block = (np.arange(nx) * 10 // nx)[None, None, :]
    labels = ((z_block * 10 + x_block) % (leaves - 1) + 1).astype(np.uint8)
    labels = np.broadcast_to(labels, (nz, ny, nx)).copy()
    labels[:, : ny // 8, :] = 0
    labels[:, -ny // 8:, :] = 0
    ct = rng.normal(40.0, 200.0, size=(nz, ny, nx)).clip(-1024, 3071).astype(np.int16)
    return labels, ct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 500), metavar=("X", "Y", "Z"))
    parser.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-nodes", type=int, default=3, help="nodes timed the naive way")
    args = parser.parse_args()

    tree = LabelTree.from_tree_labels_file(args.tree)
    labels, ct = synthetic_case(tuple(args.size), len(tree.leaves))
    mapping = leaf_label_nodes(tree)
    print(f"tree: {len(tree)} nodes, {len(tree.leaves)} leaves; CT {args.size[0]}×{args.size[1]}×{args.size[2]} "
          f"= {ct.size / 1e6:.0f} M voxels (int16)")

    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        rows = tree_statistics(labels, ct, tree, mapping, 0.001)
        times.append(time.perf_counter() - started)
    volumes_only = time.perf_counter()
    tree_statistics(labels, None, tree, mapping, 0.001)
    volumes_only = time.perf_counter() - volumes_only

    # The naive way for comparison: one mask and one set of numpy reductions per node.
    started = time.perf_counter()
    for row in rows[: args.naive_nodes]:
        values = ct[np.isin(labels, tree.subtree_label_values(row.node))]
        np.mean(values), np.std(values), np.percentile(values, (5, 50, 95)), values.min(), values.max()
    naive = (time.perf_counter() - started) / args.naive_nodes * len(rows)

    print("| what | seconds |")
    print("|---|---|")
    print(f"| statistics of all {len(rows)} nodes, one pass (best of {args.repeats}) | {min(times):.2f} |")
    print(f"| the same, median of {args.repeats} | {float(np.median(times)):.2f} |")
    print(f"| volumes only (no CT) | {volumes_only:.2f} |")
    print(f"| naive: one masked numpy pass per node (extrapolated from {args.naive_nodes}) | {naive:.1f} |")


if __name__ == "__main__":
    main()
