"""Keeps the tree panel in step with the segmentation when segments change elsewhere (Segment
Editor, Segmentations module, the Python console): segments added or removed rebuild the panel;
a modified segment (painted, renamed) only updates what it changed; display changes only refresh
its checkboxes. VTK observers, no Qt.

A Segment Editor stroke (``vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment``) sends
``SourceRepresentationModified``; only the first stroke of a segment also sends ``SegmentModified``
(its status tag changes). Both count as a modified segment, each stroke in its own event-loop turn:
:class:`TreeUpdateBatcher` collects a burst and applies it once, when its (restartable) timer fires —
the widget's ``QTimer``, so a burst of strokes costs one update.

Call data: ``SegmentModified`` carries the segment's ID (``char*``; none when the node had deferred
the event), so it is read as a string. ``SourceRepresentationModified`` carries a ``char*`` from a
stroke but a ``vtkSegmentation*`` or ``vtkOrientedImageData*`` from other senders
(``SetSourceRepresentationName``, ``SeparateSegmentLabelmap``): it is observed without call data and
counts as "some segment changed" (the panel's measurements find which layers did)."""
from __future__ import annotations

from typing import Callable, Optional

import slicer
import vtk

STRUCTURE_EVENTS = ("SegmentAdded", "SegmentRemoved")


class SegmentationWatcher:
    def __init__(self, on_structure_changed: Callable[[], None], on_display_changed: Callable[[], None],
                 on_segment_modified: Optional[Callable[[Optional[str]], None]] = None) -> None:
        self.on_structure_changed = on_structure_changed
        self.on_display_changed = on_display_changed
        #: Gets the modified segment's ID (None: unknown); without it a modification counts as a
        #: structure change.
        self.on_segment_modified = on_segment_modified
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
        self._tags.append(node.AddObserver(slicer.vtkSegmentation.SegmentModified, self._modified))
        self._tags.append(node.AddObserver(slicer.vtkSegmentation.SourceRepresentationModified, self._source_modified))
        self._tags.append(node.AddObserver(slicer.vtkMRMLDisplayableNode.DisplayModifiedEvent, self._display))

    def stop(self) -> None:
        if self.node is not None:
            for tag in self._tags:
                self.node.RemoveObserver(tag)
        self.node, self._tags = None, []

    def _structure(self, caller, event) -> None:
        if not self.paused:
            self.on_structure_changed()

    @vtk.calldata_type(vtk.VTK_STRING)
    def _modified(self, caller, event, segment_id=None) -> None:
        self._report(segment_id or None)

    def _source_modified(self, caller, event) -> None:
        self._report(None)

    def _report(self, segment_id: Optional[str]) -> None:
        if self.paused:
            return
        if self.on_segment_modified is None:
            self.on_structure_changed()
        else:
            self.on_segment_modified(segment_id)

    def _display(self, caller, event) -> None:
        if not self.paused:
            self.on_display_changed()


class TreeUpdateBatcher:
    """Collects the segment events of a burst and applies them once, when ``flush`` is called
    (by the timer ``schedule`` restarts): a rebuild if segments were added or removed, else an
    update of the modified segments only."""

    def __init__(self, schedule: Callable[[], None], rebuild: Callable[[], None],
                 update_segments: Callable[[Optional[set]], None]) -> None:
        self._schedule = schedule
        self._rebuild = rebuild
        self._update_segments = update_segments
        self._needs_rebuild = False
        self._modified: set[str] = set()
        self._all_modified = False

    def structure_changed(self) -> None:
        self._needs_rebuild = True
        self._schedule()

    def segment_modified(self, segment_id: Optional[str]) -> None:
        if segment_id is None:
            self._all_modified = True
        else:
            self._modified.add(segment_id)
        self._schedule()

    @property
    def pending(self) -> bool:
        return self._needs_rebuild or self._all_modified or bool(self._modified)

    def flush(self) -> None:
        rebuild, modified, everything = self._needs_rebuild, self._modified, self._all_modified
        self.clear()
        if rebuild:
            self._rebuild()
        elif everything or modified:
            self._update_segments(None if everything else modified)

    def clear(self) -> None:
        self._needs_rebuild, self._modified, self._all_modified = False, set(), False
