"""Procedural whole-body CT phantoms labelled with a SALT label tree (see :func:`generate_phantom`)."""
from .generator import Phantom, generate_phantom
from .tree import LEFT_RIGHT_PAIRS, PHANTOM_LEAF_PATHS, phantom_tree, phantom_tree_labels_text

__all__ = ["Phantom", "generate_phantom", "LEFT_RIGHT_PAIRS", "PHANTOM_LEAF_PATHS", "phantom_tree",
           "phantom_tree_labels_text"]
from .dataset import write_dataset_files, write_phantoms  # noqa: E402

__all__ += ["write_dataset_files", "write_phantoms"]
