"""SALT segmentation engine: CT in, label-tree segmentation out.

Pure Python (torch, SimpleITK, numpy); it never imports Slicer, VTK or Qt, so the same code runs
from a Python shell, the ``saltseg`` command line and the 3D Slicer module.
"""
from .errors import SaltSegError
from .tree.labeltree import LabelTree

__version__ = "0.1.0"
__all__ = ["LabelTree", "SaltSegError", "__version__"]
