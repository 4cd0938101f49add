"""SALT's tree softmax written from the paper's equations on an adjacency matrix, in float64,
sharing nothing with ``saltseg.tree`` (used as the reference in tests).

For a node ``n`` with parent ``π(n)`` (Koitka et al., Sci Rep 2025, eqs. 1-2):
``p(n | π(n)) = exp(z_n) / Σ_{s: π(s) = π(n)} exp(z_s)`` and ``P(n) = Π_{a ∈ path(n)} p(a | π(a))``.
With ``A[i, j] = 1`` when ``i`` is the parent of ``j`` (row/column 0 the root, as in SALT's
``config.pkl``), the siblings of a group are one row of ``A`` and ancestors-or-self are
``M = (I - A)⁻¹``, so ``log P = Mᵀ log p(· | π)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tree_from_labels_file(path: Path) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """(node paths, adjacency matrix with the root at 0) from a SALT ``tree-labels.txt``: every
    prefix of every line is a node, in order of first appearance ("-" marks an unused label)."""
    nodes: list[tuple[str, ...]] = []
    for line in Path(path).read_text().splitlines():
        parts = tuple(p.strip() for p in line.split(",") if p.strip() and p.strip() != "-")
        for depth in range(1, len(parts) + 1):
            if parts[:depth] not in nodes:
                nodes.append(parts[:depth])
    index = {node: i + 1 for i, node in enumerate(nodes)}
    adjacency = np.zeros((len(nodes) + 1, len(nodes) + 1), dtype=np.uint8)
    for node in nodes:
        adjacency[index.get(node[:-1], 0), index[node]] = 1
    return nodes, adjacency


def paper_tree_softmax(logits: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """Node probabilities ``[N, ...]`` (float64) for logits ``[N, ...]`` (channel = node)."""
    a = adjacency.astype(np.float64)
    n = a.shape[0]
    ancestors = np.linalg.inv(np.eye(n) - a)[1:, 1:]  # ancestors[i, j] = 1: i is j or above it
    z = logits.reshape(logits.shape[0], -1).astype(np.float64)
    log_conditional = np.empty_like(z)
    for parent in np.flatnonzero(a.sum(axis=1)):  # each sibling group: the children of one node
        group = np.flatnonzero(a[parent, 1:])
        shifted = z[group] - z[group].max(axis=0)  # exact: the group's own max, no overflow
        log_conditional[group] = shifted - np.log(np.exp(shifted).sum(axis=0))
    return np.exp(ancestors.T @ log_conditional).reshape(logits.shape)
