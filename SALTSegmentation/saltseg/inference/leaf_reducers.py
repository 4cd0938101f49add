"""Turning a chunk of network output into weighted leaf probabilities, added to the slab.

Three kinds of network output reach the sliding window, each with its reducer:

* ``features`` — the input of the network's last (pointwise) convolution, ``C`` channels (32 for
  SALT's DynUNet). :class:`TreeSoftmaxReducer` with a head applies that convolution itself, as one
  matrix product per chunk whose rows come out already in layout order, so the ``N``-channel
  logits only ever exist for one cache-sized chunk;
* ``logits`` — the network's ``N`` output channels (a last layer that is not pointwise);
* ``probabilities`` — ``model.pt``'s own tree-softmax output (:class:`ProbabilityReducer`).

Every reducer computes ``out[leaf] += weight · p(leaf)`` for a ``[K, V]`` chunk, with ``out`` a
``[L, *spatial]`` view of the slab (``prod(spatial) == V``) in the slab's channel order
(:class:`~saltseg.inference.leaf_layout.LeafLayout`).
"""
from __future__ import annotations

import threading
from typing import Optional, Sequence

import torch

from ..model.logits import PointwiseHead
from .leaf_layout import LeafLayout

#: |logit| below which ``exp`` needs no max subtraction: exp(±60) stays far inside float32's
#: normal range even summed over a group, so plain exp is exact enough and skips two passes.
SAFE_LOGIT = 60.0
#: Rows hold logits × log2(e) and go through ``exp2``, which torch computes ~1.5× faster than
#: ``exp`` on the CPU; with a head the factor is folded into its weights for free.
LOG2_E = 1.4426950408889634
#: Heads with at most this many input channels are applied as broadcast multiply-adds.
SMALL_HEAD = 8


class ProbabilityReducer:
    """For ``model.pt``'s probabilities: select the leaf channels and add them, weighted."""

    kind = "probabilities"

    def __init__(self, slab_nodes: Sequence[int], num_nodes: int, device: torch.device) -> None:
        self.slab_nodes = list(slab_nodes)
        self.input_channels = num_nodes
        self._slab_nodes = torch.as_tensor(self.slab_nodes, dtype=torch.long, device=device)

    def __call__(self, chunk: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None:
        spatial = out.shape[1:]
        leaves = chunk.index_select(0, self._slab_nodes.to(chunk.device)).float()
        out.addcmul_(leaves.view(-1, *spatial), weight.view(1, *spatial))


class _Workspace:
    """One thread's buffers and views for chunks of ``V`` voxels (reused: no allocation per chunk)."""

    def __init__(self, reducer: "TreeSoftmaxReducer", voxels: int, device: torch.device) -> None:
        layout = reducer.layout
        self.rows = torch.empty((len(layout.node_order), voxels), dtype=torch.float32, device=device)
        self.sums = torch.empty((layout.num_groups, voxels), dtype=torch.float32, device=device)
        self.blocks = []  # (rows [count, size, V], sums [count, V], leaf rows [count, leaves, V] | None, block)
        for block in layout.blocks:
            rows = self.rows[block.first_row:block.first_row + block.count * block.size]
            rows = rows.view(block.count, block.size, voxels)
            sums = self.sums[block.first_group:block.first_group + block.count]
            self.blocks.append((rows, sums, rows[:, :block.leaves] if block.leaves else None, block))


class TreeSoftmaxReducer:
    """SALT's tree softmax for the leaves of a chunk of logits (or of features, with a head).

    Per chunk: the logits in layout order (one matrix product with the head's rows permuted, or one
    row gather), one ``exp2`` over all rows (per-group max subtracted only when some |logit| is large),
    one sum per block giving each group's normaliser, one factor per group from its parent's
    (row-sized multiplies, no gathers; the blending weight rides on the root), and one multiply-add
    per block into the slab:
    ``p(leaf) = exp(l_leaf) / Σ_group · path(parent)``, SALT's products of conditional probabilities.
    Checked against :class:`saltseg.tree.tree_softmax.TreeSoftmax` in the tests.
    """

    def __init__(self, layout: LeafLayout, device: torch.device, head: Optional[PointwiseHead] = None) -> None:
        self.layout = layout
        self.slab_nodes = layout.slab_nodes
        self.head = head
        self.kind = "features" if head is not None else "logits"
        self._order = torch.as_tensor(layout.node_order, dtype=torch.long, device=device)
        self._chain = layout.group_chain
        if head is not None:
            self.input_channels = int(head.weight.shape[1])
            weight = head.weight.to(device, torch.float32).index_select(0, self._order).contiguous()
            bias = head.bias.to(device, torch.float32).index_select(0, self._order).view(-1, 1).contiguous()
            self._heads = {True: (weight * LOG2_E, bias * LOG2_E), False: (weight, bias)}  # by plain exp
            # |logit| ≤ Σ_c |W_nc|·max|f_c| + |b_n|: bounds the logits from the C feature rows alone.
            self._abs_weight, self._abs_bias = weight.abs(), bias.abs()
        else:
            self.input_channels = len(layout.node_order)
        self._local = threading.local()

    def _workspace(self, voxels: int, device: torch.device) -> _Workspace:
        cache = getattr(self._local, "spaces", None)
        if cache is None:
            cache = self._local.spaces = {}
        space = cache.get((voxels, device))
        if space is None:
            if len(cache) >= 4:  # chunk sizes vary only at window edges
                cache.clear()
            space = cache[(voxels, device)] = _Workspace(self, voxels, device)
        return space

    def __call__(self, chunk: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None:
        voxels = chunk.shape[1]
        space = self._workspace(voxels, chunk.device)
        rows = space.rows
        if self.head is not None:
            features = chunk.float()
            # amax and amin: half the time of abs().amax (no temporary); aminmax(dim) is 10× slower
            largest = torch.maximum(features.amax(dim=1, keepdim=True), features.amin(dim=1, keepdim=True).neg_())
            plain_exp = bool((self._abs_weight @ largest + self._abs_bias).max() <= SAFE_LOGIT)
            head_weight, head_bias = self._heads[plain_exp]  # log2(e) folded in unless max is subtracted
            if features.shape[0] <= SMALL_HEAD:  # a matrix product with K ≤ 8 is all overhead
                torch.addcmul(head_bias, head_weight[:, :1], features[:1], out=rows)
                for channel in range(1, features.shape[0]):
                    rows.addcmul_(head_weight[:, channel:channel + 1], features[channel:channel + 1])
            else:
                torch.addmm(head_bias, head_weight, features, out=rows)
            scale = 1.0 if plain_exp else LOG2_E
            if not plain_exp:  # the bound is loose: one pass over the logits costs less than 15 maxima
                plain_exp = _within_safe_range(rows)
        else:
            if chunk.dtype == torch.float32:
                torch.index_select(chunk, 0, self._order, out=rows)
            else:
                rows.copy_(chunk.index_select(0, self._order))
            plain_exp = _within_safe_range(rows)
            scale = LOG2_E
        if plain_exp:
            (rows.mul_(scale) if scale != 1.0 else rows).exp2_()
        for block_rows, block_sums, _, _ in space.blocks:
            if not plain_exp:  # subtract first: scaling large logits would lose their difference
                block_rows.sub_(block_rows.amax(dim=1, keepdim=True)).mul_(scale).exp2_()
            torch.sum(block_rows, dim=1, out=block_sums)
        factor = space.sums.reciprocal_()  # per group, parents first: weight · path(parent) / Σ
        for group, parent_group, parent_row in self._chain:
            if parent_group < 0:
                factor[group].mul_(weight)
            else:
                factor[group].mul_(factor[parent_group]).mul_(rows[parent_row])
        spatial = out.shape[1:]
        for _, _, leaf_rows, block in space.blocks:
            if leaf_rows is None:
                continue
            first = block.first_channel
            target = out[first:first + block.count * block.leaves].view(block.count, block.leaves, *spatial)
            group_factor = factor[block.first_group:block.first_group + block.count]
            target.addcmul_(leaf_rows.view(block.count, block.leaves, *spatial),
                            group_factor.view(block.count, 1, *spatial))


def _within_safe_range(logits: torch.Tensor) -> bool:
    low, high = torch.aminmax(logits)
    return bool(high <= SAFE_LOGIT) and bool(low >= -SAFE_LOGIT)  # False for NaN, too


def leaf_probabilities(reducer, values: torch.Tensor, chunk: int = 1 << 14) -> torch.Tensor:
    """``[K, *roi]`` network output → ``[L, V]`` leaf probabilities in slab order (for checks)."""
    flat = values.reshape(values.shape[0], -1)
    out = torch.zeros((len(reducer.slab_nodes), flat.shape[1]), dtype=torch.float32, device=flat.device)
    ones = torch.ones(flat.shape[1], dtype=torch.float32, device=flat.device)
    for start in range(0, flat.shape[1], chunk):
        stop = start + chunk
        reducer(flat[:, start:stop].contiguous(), ones[start:stop], out[:, start:stop])
    return out
