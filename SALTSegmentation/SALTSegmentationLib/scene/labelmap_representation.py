"""The binary labelmap representation every number and merge of the module is computed from.

A segmentation whose source representation is not a labelmap (closed surfaces, planar contours: an
RT Structure Set shown with *Show as label tree*) gets the labelmap as a derived representation,
on its reference geometry (the CT's grid when it has none), or a clear error — never polydata read
as voxels. The layer calls name the representation: without the name they read the source
representation's layers.
"""
from __future__ import annotations

import logging
from typing import Iterator, Optional

import slicer
from saltseg.errors import SaltSegError

from .mrml_helpers import BINARY_LABELMAP, ensure_converter_rules

logger = logging.getLogger(__name__)

REFERENCE_GEOMETRY = "Reference image geometry"  # vtkSegmentationConverter::GetReferenceImageGeometryParameterName()


class SegmentationRepresentationError(SaltSegError):
    """A segmentation's segments cannot be had as a binary labelmap."""


def conversion_parameter(segmentation: "slicer.vtkSegmentation", name: str) -> Optional[str]:
    """The conversion parameter ``name``, or None where the segmentation has none. Unlike
    ``GetConversionParameter``, asking for a missing one logs no VTK error: Slicer forbids ``|``
    and ``&`` inside names and values, so the serialized list splits unambiguously."""
    for entry in segmentation.SerializeAllConversionParameters().split("&"):
        fields = entry.split("|")
        if fields[0] == name and len(fields) > 1:
            return fields[1]
    return None


def ensure_binary_labelmap(segmentation_node, volume_node=None) -> None:
    """Make sure every segment has a binary labelmap (a no-op for labelmap segmentations).

    Converted on the segmentation's reference geometry; where it has none, on ``volume_node``'s
    grid (which then becomes its reference geometry, as choosing a source volume in the Segment
    Editor does). Raises :class:`SegmentationRepresentationError` when the conversion fails."""
    segmentation = segmentation_node.GetSegmentation()
    if not segmentation.GetNumberOfSegments() or segmentation.ContainsRepresentation(BINARY_LABELMAP):
        return
    ensure_converter_rules()
    if volume_node is not None and not conversion_parameter(segmentation, REFERENCE_GEOMETRY):
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    source = segmentation.GetSourceRepresentationName()
    logger.info("converting %s of %r to a binary labelmap", source, segmentation_node.GetName())
    if not segmentation_node.CreateBinaryLabelmapRepresentation():
        raise SegmentationRepresentationError(
            f"the segments of {segmentation_node.GetName()!r} ({source}) cannot be converted to a binary "
            "labelmap, which volumes, intensities and merging need: in the Segmentations module, choose "
            "Binary labelmap as its source representation, or convert it there")


def labelmap_layers(segmentation: "slicer.vtkSegmentation") -> Iterator[tuple[object, list[str]]]:
    """(shared labelmap image, IDs of the segments in it) of every binary labelmap layer."""
    for layer in range(segmentation.GetNumberOfLayers(BINARY_LABELMAP)):
        yield (segmentation.GetLayerDataObject(layer, BINARY_LABELMAP),
               list(segmentation.GetSegmentIDsForLayer(layer, BINARY_LABELMAP)))
