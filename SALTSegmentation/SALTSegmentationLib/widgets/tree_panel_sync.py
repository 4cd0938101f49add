"""Keeps the Structures panel in step with its segmentation — only while the module is shown.

Owns what the panel shows (the Qt-free :class:`~..scene.tree_model.TreePanelModel`), the panel's
:class:`~..scene.segment_measurements.SegmentMeasurements` (so a paint burst counts only the slices
it changed) and the segmentation's observers. Edits made elsewhere (Segment Editor, Segmentations
module, console) are collected by a :class:`~..scene.segmentation_watcher.TreeUpdateBatcher` and
applied once per burst, when the widget's timer fires. While the module is not shown nothing is
observed and nothing is measured: entering it catches up once (changed slices only).

The drawing is the view's (``show_model``, ``show_numbers``, ``refresh_check_states``,
``show_error``); the timer is the widget's ``QTimer`` (``start_timer``/``stop_timer``) — so pytest
drives all of this with real MRML and no Qt.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Protocol

from saltseg.errors import SaltSegError

from ..scene import subtrees
from ..scene.segment_measurements import SegmentMeasurements
from ..scene.segmentation_watcher import SegmentationWatcher, TreeUpdateBatcher
from ..scene.sure_tally import SureTally
from ..scene.statistics_table import reference_volume

logger = logging.getLogger(__name__)


class TreePanelDrawing(Protocol):
    def show_model(self, model: Any, segmentation_node: Any) -> None:
        """Draw ``model`` anew (None: an empty panel)."""
    def show_numbers(self, nodes: set) -> None:
        """Redraw the volume and mean HU of these tree nodes."""
    def refresh_check_states(self) -> None:
        """Re-read the segments' visibility from MRML."""
    def show_error(self, message: str) -> None: ...


class TreePanelSync:
    def __init__(self, drawing: TreePanelDrawing, start_timer: Callable[[], None],
                 stop_timer: Callable[[], None]) -> None:
        self.drawing = drawing
        self._stop_timer = stop_timer
        self.segmentation_node = None
        self.model = None
        self.measurements: Optional[SegmentMeasurements] = None
        #: The Sure % column's counts (None: the segmentation has no confidence map).
        self.sure: Optional[SureTally] = None
        self.batcher = TreeUpdateBatcher(start_timer, self.rebuild, self._update_segments)
        self.watcher = SegmentationWatcher(self.batcher.structure_changed, self._display_changed,
                                           self.batcher.segment_modified)
        #: Whether the module is shown (Slicer's ``enter``/``exit``).
        self.shown = False
        #: The segmentation may have changed while the module was not shown.
        self._behind = False
        self._last_error: Optional[str] = None  # shown once per segmentation, not on every burst
        #: Called after each update with the segmentation and the slices of its confidence map that
        #: changed (None: any may have): the selected structure's heat map follows the edits.
        self.on_edited: Optional[Callable[[Any, Optional[set]], None]] = None

    # ------------------------------------------------------------------ module life
    def enter(self) -> None:
        self.shown = True
        self.watcher.watch(self.segmentation_node)
        if self._behind:
            self._behind = False
            self._catch_up()

    def exit(self) -> None:
        """Stop observing: painting elsewhere costs this module nothing until it is shown again."""
        self.shown = False
        self.watcher.stop()
        self._drop_pending()
        self._behind = True

    def scene_closing(self) -> None:
        self.set_segmentation(None)

    def close(self) -> None:
        """Reload or application exit: no observer, timer or measurement is left."""
        self.watcher.stop()
        self._drop_pending()
        self._forget()

    # ------------------------------------------------------------------ what is shown
    def set_segmentation(self, segmentation_node) -> None:
        """Show ``segmentation_node`` (the output selector's choice; None: nothing)."""
        self._drop_pending()
        self._forget()
        self.segmentation_node, self._last_error = segmentation_node, None
        if not self.shown:
            self.watcher.stop()
            self._behind = segmentation_node is not None
            self.drawing.show_model(None, segmentation_node)
            return
        self.watcher.watch(segmentation_node)
        self.rebuild()

    def rebuild(self) -> None:
        """Draw the panel anew (segments added or removed, a merge, a new tree)."""
        self._drop_pending()
        node = self.segmentation_node
        self.model = None
        if node is not None:
            volume = reference_volume(node)
            if self.measurements is None or self.measurements.volume_node is not volume:
                self._forget()  # made on another CT meanwhile: measured on that one
                self.measurements = SegmentMeasurements(volume)
            try:
                self.model = subtrees.tree_panel_model(node, self.measurements.volume_node, self.measurements)
                self._measure_sure()
            except SaltSegError as error:
                self._error(error)
        self.drawing.show_model(self.model, node)
        self._edited(None)

    def flush(self) -> None:
        """The timer fired: apply the burst of edits collected since the last update."""
        if self.shown:
            self.batcher.flush()

    # ------------------------------------------------------------------ internals
    def _update_segments(self, segment_ids: Optional[set]) -> None:
        if self.model is None or self.segmentation_node is None or self.measurements is None:
            self.rebuild()
            return
        try:
            changed = subtrees.refresh_tree_panel_model(self.segmentation_node, self.model, segment_ids,
                                                        self.measurements.volume_node, self.measurements)
        except SaltSegError as error:
            self._error(error)
            return
        if changed is None:
            self.rebuild()
            return
        slices: Optional[set] = None
        try:
            changed |= self._measure_sure()
            slices = self.sure.changed_slices if self.sure is not None else None
        except SaltSegError as error:
            self._error(error)
        if changed:
            self.drawing.show_numbers(changed)
        self._edited(slices)

    def _measure_sure(self) -> set:
        """Bring the Sure % of the model's nodes up to date (changed slices only); the nodes it changed."""
        self.sure = SureTally.follow(self.sure, self.segmentation_node)
        if self.sure is None or self.model is None:
            return set()
        return self.sure.update_model(self.model, self.segmentation_node)

    def _edited(self, slices: Optional[set]) -> None:
        if self.on_edited is not None and self.segmentation_node is not None:
            self.on_edited(self.segmentation_node, slices)

    def _error(self, error: SaltSegError) -> None:
        logger.warning("Structures panel: %s", error)
        if str(error) != self._last_error:
            self._last_error = str(error)
            self.drawing.show_error(str(error))

    def _display_changed(self) -> None:
        self.drawing.refresh_check_states()

    def _catch_up(self) -> None:
        if self.model is None:
            self.rebuild()
            return
        self._update_segments(None)
        if self.model is not None:
            self.drawing.refresh_check_states()

    def _drop_pending(self) -> None:
        self._stop_timer()
        self.batcher.clear()

    def _forget(self) -> None:
        if self.measurements is not None:
            self.measurements.release()  # the layer copies: up to a labelmap's size each
        if self.sure is not None:
            self.sure.release()
        self.measurements, self.model, self.sure = None, None, None
