"""The Structures panel's probability actions, without Qt: the heat map of the selected structure
(while *Show probability* is checked) and *Show uncertain voxels*. The module's
:class:`~.controller.ModuleController` holds one (``controller.probability_actions``); the widget
calls it when the selection, the check box or the segmentation changes, and when the module is
left (the slice views get back what they showed)."""
from __future__ import annotations

import logging
from typing import Any, Optional

from saltseg.errors import SaltSegError

from ..i18n import _

logger = logging.getLogger(__name__)


def overlay_text(kind: str) -> str:
    """What the status line says about the heat map, by what it shows (``{name}`` to fill), in the
    user's language (looked up when shown: whole sentences, so a translator sees each one)."""
    if kind == "probability":
        return _("Heat map: the model's probability of {name} (dark: unlikely, pale yellow: certain).")
    return _("Heat map: the model's confidence inside {name} (dark: unsure, pale yellow: sure); "
             "no map of its own was computed for it.")


class ProbabilityActions:
    def __init__(self, view: Any, logic: Any) -> None:
        self.view = view
        self.logic = logic
        #: *Show probability* is checked.
        self.enabled = True
        #: The panel has put a heat map in the slice views (cleared when the panel lets go).
        self.showing = False
        #: The panel's selection (segmentation, tree path), shown again by :meth:`resume`.
        self._selection: Optional[tuple[Any, str]] = None

    @staticmethod
    def result_note(result: Any) -> str:
        """What the status line adds after a run that brought probability maps back ("" otherwise)."""
        nodes = len(getattr(result, "probability_maps", None) or {})
        confidence = bool(getattr(result, "confidence_map", None))
        if not confidence and not nodes:
            return ""
        if not nodes:
            text = _(" Probability maps: the confidence map (select a structure under Structures to see its heat map).")
        elif confidence:
            text = (_(" Probability maps: the confidence map and 1 structure map (select a structure under Structures "
                      "to see its heat map).") if nodes == 1 else
                    _(" Probability maps: the confidence map and {count} structure maps (select a structure under "
                      "Structures to see its heat map)."))
        else:
            text = (_(" Probability maps: 1 structure map (select a structure under Structures to see its heat map).")
                    if nodes == 1 else
                    _(" Probability maps: {count} structure maps (select a structure under Structures to see its "
                      "heat map)."))
        return text.format(count=nodes)

    def has_maps(self, segmentation_node: Any) -> bool:
        return segmentation_node is not None and bool(self.logic.probabilityMaps(segmentation_node))

    def on_node_selected(self, segmentation_node: Any, node_id: Optional[str]) -> None:
        """The panel's selection changed (None: nothing selected): show that structure's heat map."""
        self._selection = (segmentation_node, node_id) if segmentation_node is not None and node_id else None
        if not self.enabled or segmentation_node is None or not node_id or not self.has_maps(segmentation_node):
            self.clear()
            return
        try:
            kind = self.logic.showProbability(segmentation_node, node_id)
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.clear()
            self.view.show_error(_("Could not show the probability map: {error}").format(error=error))
            return
        self.showing = bool(kind)
        if kind:
            self.view.set_status(overlay_text(kind).format(name=self._name(segmentation_node, node_id)))

    def on_segments_edited(self, segmentation_node: Any, slices: Optional[set]) -> None:
        """Segments were painted, added or removed (the Structures panel's update, once per burst;
        ``slices``: the confidence map's slices that changed, None: any): a heat map of the
        confidence inside the selected structure follows."""
        if not self.showing:
            return
        try:
            self.showing = bool(self.logic.followProbabilityEdits(segmentation_node, slices))
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.clear()
            self.view.show_error(_("Could not show the probability map: {error}").format(error=error))

    def on_overlay_toggled(self, checked: bool, segmentation_node: Any, node_id: Optional[str]) -> None:
        self.enabled = bool(checked)
        self.on_node_selected(segmentation_node, node_id)

    def on_show_uncertain(self, segmentation_node: Any, node_id: Optional[str]) -> bool:
        """*Show uncertain voxels*: a segment of the selected structure's voxels where the model was
        unsure; True when the segmentation changed."""
        if segmentation_node is None or not node_id:
            self.view.show_error(_("Select a structure in the Structures panel first."))
            return False
        from ..scene.uncertain_voxels import UNCERTAIN_BELOW

        try:
            with self.view.busy():
                region = self.logic.showUncertainVoxels(segmentation_node, node_id)
        except (SaltSegError, ValueError) as error:
            self.view.show_error(str(error))
            return False
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.view.show_error(_("Could not find the uncertain voxels: {error}").format(error=error))
            return False
        below = f"{100 * UNCERTAIN_BELOW:.0f} %"
        if region.segment_id is None:
            self.view.set_status(_("No voxel of {name} is below {below} confidence.").format(
                name=self._name(segmentation_node, node_id), below=below))
        else:
            self.view.set_status(_("Segment '{name}': {volume} mL ({voxels} voxels) below {below} confidence, "
                                   "for review.").format(name=region.name, volume=f"{region.volume_ml:.1f}",
                                                         voxels=region.voxels, below=below))
        return True

    def clear(self) -> None:
        """Give the slice views back what they showed (the module is left, the scene closes)."""
        if self.showing:
            self.showing = False
            self.logic.hideProbability()

    def forget(self) -> None:
        """The scene closes: give the views back and drop the selection, whose node is going."""
        self._selection = None
        self.clear()

    def resume(self) -> None:
        """The module is shown again: the selected structure's heat map comes back."""
        if self._selection is not None:
            self.on_node_selected(*self._selection)

    @staticmethod
    def _name(segmentation_node: Any, node_id: str) -> str:
        from ..scene.uncertain_voxels import node_name

        return node_name(segmentation_node, node_id)
