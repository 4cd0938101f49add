"""What segmenting into a chosen segmentation node would replace.

Segmenting replaces every segment of the output node. After a run the output selector keeps
pointing at that result, so the next *Segment* — on another CT, or after hours of corrections by
hand — would silently overwrite it; the module asks first (see the widget controller).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class ExistingOutput:
    """A non-empty output node: its name, how many segments it holds, and the volume it was made
    for when that is another volume than the one about to be segmented."""

    name: str
    segments: int
    other_volume: Optional[str] = None

    def question(self, volume_name: str) -> str:
        made_for = f", made for another volume ('{self.other_volume}')" if self.other_volume else ""
        plural = "s" if self.segments != 1 else ""
        return (f"The output segmentation '{self.name}' already holds {self.segments} segment{plural}{made_for}. "
                f"Segmenting '{volume_name}' into it replaces all of them, including any changes made by hand.\n\n"
                "Replace them, or put the result into a new segmentation?")


def existing_output(segmentation_node: Any, volume_node: Any) -> Optional[ExistingOutput]:
    """None when segmenting into ``segmentation_node`` loses nothing (no node, or no segment)."""
    if segmentation_node is None:
        return None
    count = segmentation_node.GetSegmentation().GetNumberOfSegments()
    if count == 0:
        return None
    reference = segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
    other = reference.GetName() if reference is not None and reference is not volume_node else None
    return ExistingOutput(segmentation_node.GetName(), count, other)
