"""The colour table of probability maps: a heat scale (matplotlib's *inferno*: dark purple for
unlikely, through red and orange, to pale yellow for certain), perceptually even and readable in
grey print. Made here rather than taken from Slicer's colour files, so that it exists in every
scene (also headless ones) and looks the same everywhere; one per scene (a singleton node)."""
from __future__ import annotations

import numpy as np

COLOR_NODE_NAME = "SALT probability"
SINGLETON_TAG = "SALTSegmentation.ProbabilityColors"
ENTRIES = 256
#: inferno at 0, 0.1, …, 1 (matplotlib's table, rounded); linearly interpolated between.
_INFERNO = ((0.001, 0.000, 0.014), (0.087, 0.045, 0.225), (0.258, 0.039, 0.406), (0.416, 0.090, 0.433),
            (0.578, 0.148, 0.404), (0.736, 0.216, 0.330), (0.865, 0.317, 0.226), (0.955, 0.469, 0.100),
            (0.988, 0.645, 0.040), (0.964, 0.844, 0.273), (0.988, 0.998, 0.645))


def heat_colors(count: int = ENTRIES) -> np.ndarray:
    """``count`` RGB rows (0–1) from probability 0 to 1."""
    stops = np.linspace(0.0, 1.0, len(_INFERNO))
    at = np.linspace(0.0, 1.0, count)
    table = np.asarray(_INFERNO)
    return np.stack([np.interp(at, stops, table[:, c]) for c in range(3)], axis=1)


def probability_color_node(scene):
    """The scene's probability colour table (made the first time)."""
    existing = scene.GetSingletonNode(SINGLETON_TAG, "vtkMRMLColorTableNode")
    if existing is not None:
        return existing
    import slicer

    node = slicer.vtkMRMLColorTableNode()
    node.SetSingletonTag(SINGLETON_TAG)
    node.SetName(COLOR_NODE_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(ENTRIES)
    for index, (red, green, blue) in enumerate(heat_colors()):
        node.SetColor(index, f"{index / (ENTRIES - 1):.3f}", red, green, blue, 1.0)
    return scene.AddNode(node)
