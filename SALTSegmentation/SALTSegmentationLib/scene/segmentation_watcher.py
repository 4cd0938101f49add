"""Keeps the tree panel in step with the segmentation when segments change elsewhere (Segment
Editor, Segmentations module, the Python console): segments added, removed or modified (renamed,
recoloured) rebuild the panel; display changes only refresh its checkboxes. VTK observers, no Qt."""
from __future__ import annotations

from typing import Callable, Optional

import slicer

STRUCTURE_EVENTS = ("SegmentAdded", "SegmentRemoved", "SegmentModified")


class SegmentationWatcher:
    def __init__(self, on_structure_changed: Callable[[], None], on_display_changed: Callable[[], None]) -> None:
        self.on_structure_changed = on_structure_changed
        self.on_display_changed = on_display_changed
        self.node = None
        self._tags: list[int] = []
        #: While True (e.g. during the module's own batched changes) events are ignored.
        self.paused = False

    def watch(self, node: Optional["slicer.vtkMRMLSegmentationNode"]) -> None:
        self.stop()
        self.node = node
        if node is None:
            return
        # The node re-invokes its vtkSegmentation's segment events on itself.
        for name in STRUCTURE_EVENTS:
            self._tags.append(node.AddObserver(getattr(slicer.vtkSegmentation, name), self._structure))
        self._tags.append(node.AddObserver(slicer.vtkMRMLDisplayableNode.DisplayModifiedEvent, self._display))

    def stop(self) -> None:
        if self.node is not None:
            for tag in self._tags:
                self.node.RemoveObserver(tag)
        self.node, self._tags = None, []

    def _structure(self, caller, event) -> None:
        if not self.paused:
            self.on_structure_changed()

    def _display(self, caller, event) -> None:
        if not self.paused:
            self.on_display_changed()
