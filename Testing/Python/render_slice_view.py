"""Offscreen pictures of Slicer's 2D slice views, drawn as Slicer draws them, from the slicer-core
wheel (no Slicer GUI needed): ``vtkMRMLSliceLogic`` blends the volume layers into the slice image
(what Slicer's slice widget shows as its background), and Slicer's own
``vtkMRMLSegmentationsDisplayableManager2D`` draws the segmentation's fill and outline over it.

Used by ``docs/render_screenshots.py`` (the documentation's pictures) and by
``test_slicer_render.py``. Uses EGL unless VTK_DEFAULT_OPENGL_WINDOW says otherwise.
"""
from __future__ import annotations

import os

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402
import slicer  # noqa: E402
import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

#: Slicer's slice view names and the orientation each shows in the conventional layout.
VIEWS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}
SEGMENTATIONS_2D = "vtkMRMLSegmentationsDisplayableManager2D"


def add_default_colors(scene) -> None:
    """The default color nodes Slicer's application adds to every scene (the grey scale a CT is
    shown with); a scene made with the wheel alone has none."""
    color_logic = slicer.vtkMRMLColorLogic()
    color_logic.SetMRMLScene(scene)
    color_logic.SetMRMLScene(None)  # the color nodes stay; the logic need not observe the scene


def show_as_ct(volume_node, window: float = 400.0, level: float = 40.0) -> None:
    """Grey scale with an abdominal window (Slicer's CT-abdomen preset: W 350–400, L 40–50)."""
    display = volume_node.GetDisplayNode()
    display.SetAndObserveColorNodeID("vtkMRMLColorTableNodeGrey")
    display.AutoWindowLevelOff()
    display.SetWindowLevel(window, level)


def capture(window: "vtk.vtkRenderWindow") -> np.ndarray:
    """The window's pixels as an RGB array, rows top-down."""
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.flipud(pixels[:, :, :3]).copy()


class OffscreenSliceView:
    """One slice view (``Red``, ``Yellow`` or ``Green``) of ``scene`` with ``volume_node`` as its
    background layer, rendered into an offscreen window of ``size`` pixels."""

    def __init__(self, scene, volume_node, name: str = "Red", size=(400, 400)) -> None:
        self.app_logic = slicer.vtkMRMLApplicationLogic()
        self.app_logic.SetMRMLScene(scene)
        self.logic = slicer.vtkMRMLSliceLogic()
        self.logic.SetMRMLScene(scene)
        self.logic.SetMRMLApplicationLogic(self.app_logic)
        self.slice_node = self.logic.AddSliceNode(name)
        self.slice_node.SetDimensions(size[0], size[1], 1)
        self.slice_node.SetOrientation(VIEWS.get(name, "Axial"))
        self.logic.GetSliceCompositeNode().SetBackgroundVolumeID(volume_node.GetID())
        self.logic.FitSliceToAll()

        self.renderer = vtk.vtkRenderer()
        self.renderer.SetBackground(0, 0, 0)
        self.window = vtk.vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.AddRenderer(self.renderer)
        self.window.SetSize(*size)
        self.interactor = vtk.vtkRenderWindowInteractor()  # the displayable managers expect one
        self.interactor.SetRenderWindow(self.window)
        # The blended layers, in the view's pixel coordinates, as Slicer's slice widget shows them.
        mapper = vtk.vtkImageMapper()
        mapper.SetInputConnection(self.logic.GetImageDataConnection())
        mapper.SetColorWindow(255)
        mapper.SetColorLevel(127.5)
        background = vtk.vtkActor2D()
        background.SetMapper(mapper)
        self.renderer.AddViewProp(background)
        factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(self.app_logic)
        if not factory.IsDisplayableManagerRegistered(SEGMENTATIONS_2D):
            factory.RegisterDisplayableManager(SEGMENTATIONS_2D)
        self.group = factory.InstantiateDisplayableManagers(self.renderer)
        self.group.SetMRMLDisplayableNode(self.slice_node)

    def jump_to(self, ras) -> None:
        """Show the slice through the point ``ras`` (mm), keeping the field of view."""
        self.slice_node.JumpSliceByOffsetting(*ras)

    def capture(self) -> np.ndarray:
        return capture(self.window)
