"""Small MRML utilities shared by the importer, the subtree operations and the logic."""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

logger = logging.getLogger(__name__)

BINARY_LABELMAP = "Binary labelmap"
CLOSED_SURFACE = "Closed surface"


def _rules_registered(factory) -> bool:
    """Whether ``factory`` has conversion rules. ``GetConverterRules()`` returns a
    ``std::vector<vtkSmartPointer<…>>`` that older VTK wrappers (Slicer 5.8's VTK 9.2) may not wrap;
    a conversion-path query answers the same question with wrapped types only."""
    try:
        return bool(factory.GetConverterRules())
    except (AttributeError, TypeError, NotImplementedError):
        pass
    converter = slicer.vtkSegmentationConverter()  # copies the factory's rules when created
    paths = slicer.vtkSegmentationConversionPaths()
    converter.GetPossibleConversions(BINARY_LABELMAP, CLOSED_SURFACE, paths)
    return paths.GetNumberOfPaths() > 0


def ensure_converter_rules(factory=None) -> None:
    """Register the labelmap/surface conversion rules when nobody has.

    Slicer's Segmentations module registers them at application start-up; the headless
    ``slicer-core`` wheel does not, and without them a segmentation cannot even create an
    empty binary labelmap. Inside Slicer this is a no-op, and it never raises: a wrapping
    difference between VTK versions must not keep the module from loading.
    """
    factory = factory or slicer.vtkSegmentationConverterFactory.GetInstance()
    try:
        if _rules_registered(factory):
            return
        for rule in (slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
                     slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
                     slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
                     slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule):
            factory.RegisterConverterRule(rule())
    except Exception:  # noqa: BLE001 - inside Slicer the Segmentations module has registered them
        logger.warning("could not check the segmentation conversion rules", exc_info=True)


def segment_tag(segment: "slicer.vtkSegment", key: str) -> Optional[str]:
    value = vtk.reference("")
    return str(value) if segment.GetTag(key, value) else None


def ijk_to_ras(volume_node: "slicer.vtkMRMLVolumeNode") -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return matrix


def sitk_from_volume(volume_node: "slicer.vtkMRMLScalarVolumeNode") -> sitk.Image:
    """The volume's voxels as a SimpleITK image in LPS, the grid the engine maps results back to."""
    image_data = volume_node.GetImageData()
    if image_data is None:
        raise ValueError(f"volume {volume_node.GetName()!r} has no image data")
    dims = image_data.GetDimensions()
    scalars = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())
    array = scalars.reshape(dims[2], dims[1], dims[0]).copy()
    image = sitk.GetImageFromArray(array)
    matrix = np.array([[ijk_to_ras(volume_node).GetElement(r, c) for c in range(4)] for r in range(4)])
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    axes = ras_to_lps @ matrix[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (axes / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in ras_to_lps @ matrix[:3, 3]))
    return image


def oriented_image_from_array(array_kji: np.ndarray, volume_node: "slicer.vtkMRMLVolumeNode"
                              ) -> "slicer.vtkOrientedImageData":
    """A labelmap on the volume's own grid (same IJK→RAS), from a k,j,i-ordered array."""
    image = slicer.vtkOrientedImageData()
    k, j, i = array_kji.shape
    image.SetDimensions(i, j, k)
    vtk_array = numpy_support.numpy_to_vtk(np.ascontiguousarray(array_kji).ravel(), deep=True)
    image.GetPointData().SetScalars(vtk_array)
    image.SetImageToWorldMatrix(ijk_to_ras(volume_node))
    return image


def voxel_volume_ml(image: "slicer.vtkOrientedImageData") -> float:
    spacing = image.GetSpacing()
    return float(spacing[0] * spacing[1] * spacing[2]) / 1000.0


def place_in_subject_hierarchy(node: "slicer.vtkMRMLNode", beside: "slicer.vtkMRMLNode") -> None:
    """Put ``node`` in the same study/folder as ``beside`` (the input volume)."""
    scene = node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        return
    invalid = sh.GetInvalidItemID()
    volume_item = sh.GetItemByDataNode(beside)
    parent = sh.GetItemParent(volume_item) if volume_item != invalid else sh.GetSceneItemID()
    item = sh.GetItemByDataNode(node)
    if item == invalid:
        sh.CreateItem(parent, node)
    else:
        sh.SetItemParent(item, parent)


def remove_node_with_dependents(node: "slicer.vtkMRMLNode") -> None:
    """Remove a displayable node and the display/storage nodes that exist only for it."""
    scene = node.GetScene()
    if scene is None:
        return
    dependents = []
    for getter, count in (("GetNthDisplayNode", "GetNumberOfDisplayNodes"),
                          ("GetNthStorageNode", "GetNumberOfStorageNodes")):
        if hasattr(node, count):
            dependents += [getattr(node, getter)(i) for i in range(getattr(node, count)())]
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    item = sh.GetItemByDataNode(node) if sh is not None else 0
    scene.RemoveNode(node)
    for dependent in dependents:
        if dependent is not None and dependent.GetScene() is scene:
            scene.RemoveNode(dependent)
    if sh is not None and item and sh.GetItemDataNode(item) is None and item != sh.GetInvalidItemID():
        sh.RemoveItem(item, False, False)


# Segmentations copy the registered conversion rules when they are created, so register them
# before any segmentation node of ours exists (no-op inside Slicer, where the Segmentations module did).
ensure_converter_rules()
