"""The Structures panel's actions that change a segmentation: *Show as label tree* and *Merge
subtree into one segment* (which removes segments: it asks first). Qt-free; the module's
:class:`~.controller.ModuleController` holds one (``controller.tree_actions``)."""
from __future__ import annotations

from typing import Any

from saltseg.errors import SaltSegError

from ..i18n import _


class TreeActions:
    def __init__(self, view: Any, logic: Any) -> None:
        self.view = view
        self.logic = logic

    def on_show_as_label_tree(self, segmentation_node: Any) -> None:
        """"Show as label tree": a segmentation made elsewhere (TotalSegmentator, CADS, …) is
        placed in the label tree and shown in the tree panel; its segments stay as they are."""
        if segmentation_node is None:
            self.view.show_error(_("Select the segmentation to show as a label tree."))
            return
        from ..scene.organize import organize_status

        try:
            placement = self.logic.organize(segmentation_node)
        except (SaltSegError, ValueError) as error:
            self.view.show_error(str(error))
            return
        self.view.set_output(segmentation_node)
        self.view.set_status(organize_status(placement, segmentation_node.GetName()))

    def on_merge_subtree(self, segmentation_node: Any, node_id: str) -> bool:
        """Merge the subtree's segments into one, after the user agreed to lose them as separate
        segments (Slicer cannot undo it); True when the segmentation changed."""
        from ..scene.subtrees import merge_question

        if segmentation_node is None or not node_id:
            return False
        question = merge_question(segmentation_node, node_id)
        if question is not None and not self.view.ask_yes_no(question):
            self.view.set_status(_("Nothing was merged."))
            return False
        self.view.set_status(_("Merging…"))
        try:
            new_id = self.logic.mergeSubtree(segmentation_node, node_id)
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.view.show_error(_("Could not merge the subtree: {error}").format(error=error))
            return True  # a merge that failed halfway may still have changed segments
        merged_name = segmentation_node.GetSegmentation().GetSegment(new_id).GetName()
        self.view.set_status(_("Merged into one segment '{name}'.").format(name=merged_name))
        return True
