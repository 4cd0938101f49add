"""Offscreen picture of the Structures panel's heat map in an axial slice view, drawn by Slicer's own
slice logic and segmentation displayable manager from the slicer-core wheel (no Slicer GUI):

    python Testing/Python/render_probability_overlay.py docs/images/probability_overlay.png

The scene is what a user can make offline: the module's CT phantom sample segmented by the bundled
demo model in a real engine process, with *Probability maps* on (the confidence map and the
kidneys' map). One axial slice through the kidneys, twice, as selecting a structure in the
Structures panel shows it (:class:`SALTSegmentationLib.scene.probability_overlay.ProbabilityOverlay`,
half opacity, the heat colour table): the kidneys' own probability map, and the body's confidence
(no map of its own, so the confidence inside its voxels: low where the model hesitated between
structures), each under the segmentation's outlines. Below, the colour
scale. Prints one ``RESULT {json}`` line with what was drawn.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from render_slice_view import OffscreenSliceView, add_default_colors, show_as_ct  # noqa: E402
from slicer_test_support import install_scripted_module_shim, new_scene  # noqa: E402

OWN_MAP, CONFIDENCE_ONLY = "kidneys", "body"
VIEW_SIZE = (360, 330)


def phantom_with_maps(scene, folder: Path):
    """The phantom sample, segmented by the demo model with the confidence and the kidneys' map."""
    install_scripted_module_shim()
    import SALTSegmentation
    from SALTSegmentationLib.scene.sample_data import load_phantom

    volume = load_phantom(scene, folder)
    show_as_ct(volume)
    logic = SALTSegmentation.SALTSegmentationLogic()
    try:
        segmentation = logic.segment(volume, device="cpu", confidence=True, probabilities=[OWN_MAP])
    finally:
        logic.shutdownEngine()
    segmentation.GetDisplayNode().SetVisibility2DFill(False)  # outlines: the heat map stays readable
    return logic, volume, segmentation


def centre_ras(segmentation, node: str, logic) -> tuple[float, float, float]:
    """The centre (RAS) of the structure's first segment, where the view looks."""
    from SALTSegmentationLib.scene.probability_maps import resolve_node_id

    ids = logic.subtreeSegmentIds(segmentation, resolve_node_id(segmentation, node))
    return tuple(segmentation.GetSegmentCenterRAS(ids[0]))


def render_probability_overlay(out_path: Path, folder: Path | None = None) -> dict:
    """Write the picture to ``out_path``; returns what was shown (for tests and the docs build)."""
    scene = new_scene()
    add_default_colors(scene)
    logic, volume, segmentation = phantom_with_maps(scene, Path(folder or tempfile.mkdtemp()))
    view = OffscreenSliceView(scene, volume, "Red", VIEW_SIZE)  # before the overlay: its view gets it too
    pictures, shown = [], {}
    view.jump_to(centre_ras(segmentation, OWN_MAP, logic))  # one slice: through the kidneys
    for node in (OWN_MAP, CONFIDENCE_ONLY):
        shown[node] = logic.showProbability(segmentation, node)
        pictures.append(view.capture())
    foreground = view.logic.GetSliceCompositeNode().GetForegroundVolumeID()
    logic.hideProbability()
    composed = _compose(pictures, [f"Probability of the {OWN_MAP}", f"Confidence inside the {CONFIDENCE_ONLY}"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    from render_3d_view import write_png

    write_png(composed, out_path)
    return {"shown": shown, "foreground_was_overlay": bool(foreground),
            "foreground_after": view.logic.GetSliceCompositeNode().GetForegroundVolumeID(),
            "size": list(composed.shape[:2])}


def _compose(pictures: list[np.ndarray], titles: list[str]) -> np.ndarray:
    """The views side by side with their titles and the colour scale below (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from SALTSegmentationLib.scene.probability_colors import heat_colors

    height, width = pictures[0].shape[:2]
    dpi = 100
    figure = plt.figure(figsize=(len(pictures) * width / dpi, (height + 90) / dpi), dpi=dpi)
    for index, (picture, title) in enumerate(zip(pictures, titles)):
        axes = figure.add_axes((index / len(pictures), 80 / (height + 90), 1 / len(pictures), height / (height + 90)))
        axes.imshow(picture)
        axes.set_axis_off()
        axes.text(8, 18, title, color="white", fontsize=10, family="DejaVu Sans")
    bar = figure.add_axes((0.2, 35 / (height + 90), 0.6, 18 / (height + 90)))
    bar.imshow(np.arange(256)[None, :], aspect="auto", cmap=ListedColormap(heat_colors()))
    bar.set_yticks([])
    bar.set_xticks([0, 127.5, 255], ["0 % (transparent)", "50 %", "100 %"], fontsize=9)
    bar.set_title("model probability", fontsize=9, pad=3)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(figure)
    return pixels


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "probability_overlay.png")
    print("RESULT " + json.dumps(render_probability_overlay(target)))
