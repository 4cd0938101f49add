"""Slicer-side logic of the SALTSegmentation module, kept out of ``SALTSegmentation.py`` so that
pytest can exercise it against the real MRML library from the ``slicer-core`` wheel.

Nothing here imports torch (the engine runs in its own process: ``engine_session``) and only
``tree_widget``, ``model_panel`` and ``qt_process`` import Qt; the module widget alone imports them.
"""
from .mrml_helpers import ensure_converter_rules, segment_tag
from .tree_storage import load_tree, store_tree
from .importer import import_result
from .subtrees import (merge_subtree, set_subtree_visibility, show_only_subtree, subtree_segment_ids,
                       subtree_visibility)
from .tree_model import CheckState, TreePanelModel

# Segmentations copy the registered conversion rules when they are created, so register them
# before any segmentation node exists (no-op inside Slicer, where the Segmentations module did).
ensure_converter_rules()

__all__ = [
    "CheckState", "TreePanelModel", "ensure_converter_rules", "import_result", "load_tree",
    "merge_subtree", "segment_tag", "set_subtree_visibility", "show_only_subtree", "store_tree",
    "subtree_segment_ids", "subtree_visibility",
]
