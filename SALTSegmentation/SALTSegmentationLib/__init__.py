"""Slicer-side code of the SALTSegmentation module, kept out of ``SALTSegmentation.py`` so that
pytest exercises it against the real MRML library of the ``slicer-core`` wheel.

Three layers, each importing only the ones below it:

* ``processes`` — the client side of the engine process (``saltseg.service``) and of other helper
  processes (start, talk, cancel, install); no MRML, no widgets. Nothing here imports torch: the engine runs in its own
  process.
* ``scene``     — MRML work: import a result as a segmentation, the label tree stored in the node,
  subtree visibility/merge, terminology, parameter node, sample data, the console logic.
* ``widgets``   — widget behaviour (the Qt-free ``controller``) and the few Qt views.

This file and the sub-packages' ``__init__`` import nothing, so registering the module at Slicer's
start-up costs no SimpleITK, numpy or engine import.
"""
