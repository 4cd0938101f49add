"""The Structures panel's *Sure %*: each tree node's mean confidence (the model's probability of
its own choice, from the confidence map) over the node's voxels.

Counted like the panel's volumes and mean HU (:class:`~.segment_measurements.SegmentMeasurements`
with the confidence map as the "intensities"): per segment, the voxel count and the sum of the
stored confidence values, per labelmap layer; after a paint stroke only the changed slices are
counted again. A node's figure is the sum over its subtree's segments. After an edit it still
reads the model's confidence at those voxels — for its own choice there, not for the edit.
"""
from __future__ import annotations

from typing import Optional

from .probability_maps import confidence_map, map_scale
from .segment_measurements import SegmentMeasurements


class SureTally:
    def __init__(self, confidence_node) -> None:
        self.confidence_node = confidence_node
        self.scale = map_scale(confidence_node)
        self._measurements = SegmentMeasurements(confidence_node)

    @property
    def recounted(self) -> int:
        """Slices counted again by the last :meth:`update_model` (for the benchmark and tests)."""
        return self._measurements.recounted

    @property
    def changed_slices(self) -> Optional[set[int]]:
        """The confidence map's slices whose labels the last :meth:`update_model` found changed
        (None: it cannot tell, so any may have)."""
        return self._measurements.changed_slices

    @classmethod
    def follow(cls, tally: Optional["SureTally"], segmentation_node) -> Optional["SureTally"]:
        """The tally for the segmentation's current confidence map: ``tally`` while it is that
        map's, a new one for another map, None when the segmentation has none."""
        node = confidence_map(segmentation_node)
        if tally is not None and tally.confidence_node is node:
            return tally
        if tally is not None:
            tally.release()
        return None if node is None else cls(node)

    def update_model(self, model, segmentation_node) -> set[int]:
        """Give ``model`` (a :class:`~.tree_model.TreePanelModel`) every segment's confidence sum;
        returns the tree nodes whose *Sure %* changed."""
        measured = self._measurements.measure(segmentation_node)
        changed: set[int] = set()
        for segment_id in model.segment_paths():
            value = measured.get(segment_id)
            voxels, total = (value.voxels, (value.hu_sum or 0.0) * self.scale) if value is not None else (0, 0.0)
            changed |= model.set_confidence(segment_id, voxels, total)
        return changed

    def release(self) -> None:
        self._measurements.release()
