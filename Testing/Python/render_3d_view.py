"""Offscreen picture of Slicer's 3D view of a SALT segmentation, drawn by Slicer's own
segmentations displayable manager from the slicer-core wheel (no Slicer GUI needed).

    python Testing/Python/render_3d_view.py Resources/Screenshots/salt_3d_muscles_hidden.png

writes two views side by side: every structure, and the same with one subtree ("body,muscles")
hidden with a single ``setSubtreeVisibility`` call. Uses EGL unless VTK_DEFAULT_OPENGL_WINDOW
says otherwise.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import slicer  # noqa: E402
import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from slicer_test_support import TREE_PATH, load_ct, new_scene, reference_result  # noqa: E402

HIDDEN_SUBTREE = "body,muscles"


class OffscreenThreeDView:
    """A vtkMRMLViewNode rendered by vtkMRMLSegmentationsDisplayableManager3D into an offscreen window."""

    def __init__(self, scene, size=(480, 400)) -> None:
        self.app_logic = slicer.vtkMRMLApplicationLogic()
        self.app_logic.SetMRMLScene(scene)
        self.view_node = scene.AddNewNodeByClass("vtkMRMLViewNode")
        self.renderer = vtk.vtkRenderer()
        self.renderer.SetBackground(0.76, 0.76, 0.9)  # Slicer's default 3D view gradient
        self.renderer.SetBackground2(0.48, 0.48, 0.6)
        self.renderer.GradientBackgroundOn()
        self.window = vtk.vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.AddRenderer(self.renderer)
        self.window.SetSize(*size)
        self.interactor = vtk.vtkRenderWindowInteractor()  # the displayable managers expect one
        self.interactor.SetRenderWindow(self.window)
        factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(self.app_logic)
        if not factory.IsDisplayableManagerRegistered("vtkMRMLSegmentationsDisplayableManager3D"):
            factory.RegisterDisplayableManager("vtkMRMLSegmentationsDisplayableManager3D")
        self.group = factory.InstantiateDisplayableManagers(self.renderer)
        self.group.SetMRMLDisplayableNode(self.view_node)

    def visible_actor_count(self) -> int:
        props = self.renderer.GetViewProps()
        return sum(1 for i in range(props.GetNumberOfItems()) if props.GetItemAsObject(i).GetVisibility())

    def capture(self, camera_position=(0.0, -1.0, 0.3)) -> np.ndarray:
        """RGB image (rows top-down) looking at the scene from ``camera_position`` (RAS direction)."""
        self.window.Render()
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(0, 0, 0)
        camera.SetPosition(*camera_position)
        camera.SetViewUp(0, 0, 1)
        self.renderer.ResetCamera()
        camera.Zoom(1.4)
        self.window.Render()
        grab = vtk.vtkWindowToImageFilter()
        grab.SetInput(self.window)
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return np.flipud(pixels[:, :, :3]).copy()


def write_png(pixels: np.ndarray, path: Path) -> None:
    height, width, _ = pixels.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
        np.flipud(pixels).reshape(-1, 3).copy(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
    writer = vtk.vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.Write()


def render_segmentation_views(out_path: Path) -> dict:
    """Segment-like scene (the shared CT with a real multi-structure SALT result), two views."""
    from saltseg.tree.labeltree import LabelTree
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.scene.subtrees import set_subtree_visibility, subtree_segment_ids

    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    scene = new_scene()
    volume = load_ct(scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    import_result(reference_result(tree), segmentation, volume)
    segmentation.CreateClosedSurfaceRepresentation()
    segmentation.GetDisplayNode().SetPreferredDisplayRepresentationName3D("Closed surface")

    view = OffscreenThreeDView(scene)
    before_actors = view.visible_actor_count()
    everything = view.capture()
    hidden_ids = set_subtree_visibility(segmentation, HIDDEN_SUBTREE, False)
    hidden = view.capture()
    after_actors = view.visible_actor_count()
    gap = np.full((everything.shape[0], 8, 3), 255, dtype=np.uint8)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_png(np.concatenate([everything, gap, hidden], axis=1), out_path)
    return {"segments": len(subtree_segment_ids(segmentation, "body")), "hidden": hidden_ids,
            "actors_before": before_actors, "actors_after": after_actors,
            "changed_pixels": int((np.abs(everything.astype(int) - hidden.astype(int)).sum(axis=2) > 30).sum())}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "salt_3d_view.png")
    import json

    print("RESULT " + json.dumps(render_segmentation_views(target)))
