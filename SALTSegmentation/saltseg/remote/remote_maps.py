"""Probability and confidence maps of a job run on a server.

They cannot be made from the labels: the server computes them and sends them as float32 NRRD
(exact: the engine's maps are float32 images), and this client writes them in the format the job
asks for, with the local names, through the same writers as a local run. :class:`ReceivedMaps`
stands in for the engine's own maps (:class:`saltseg.inference.node_probabilities.ProbabilityMaps`)
in the result the client rebuilds, so the output plan writes them, and the statistics' confidence
columns come from them, exactly as for a local result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

#: The type the maps travel as: lossless for the engine's float32 maps.
TRANSFER_DTYPE = "float"


class ReceivedMaps:
    """The maps read from the received files (read now: the files are temporary)."""

    def __init__(self, files: dict[int, Path], confidence_file: Optional[Path], image: Any) -> None:
        self.nodes = tuple(files)
        self.confidence = confidence_file is not None
        self._maps = {node: _read(path, image) for node, path in files.items()}
        self._confidence = _read(confidence_file, image) if confidence_file is not None else None

    def node_image(self, node: int) -> Any:
        return self._maps[node]

    def confidence_image(self) -> Any:
        if self._confidence is None:
            raise KeyError("no confidence map was computed")
        return self._confidence


def _read(path: Path, image: Any) -> Any:
    import SimpleITK as sitk

    map_image = sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32)
    map_image.CopyInformation(image)  # the CT's exact geometry, as the engine's maps
    return map_image


def map_request(job: Any) -> dict[str, Any]:
    """The request fields that make the server compute the job's maps (as float32 NRRD)."""
    return maps_request(getattr(job, "probabilities", ()), getattr(job, "confidence", False))


def maps_request(probabilities: Sequence[str], confidence: bool) -> dict[str, Any]:
    if not probabilities and not confidence:
        return {}
    return {"probabilities": list(probabilities), "confidence": bool(confidence), "probabilities_dtype": TRANSFER_DTYPE}


def map_names(described: dict[str, Any]) -> tuple[dict[str, str], Optional[str]]:
    """The server's map file names: tree path → name, and the confidence map's (or None)."""
    maps = described.get("probability_maps") or {}
    confidence = described.get("confidence_map")
    return ({str(node): str(name) for node, name in maps.items()} if isinstance(maps, dict) else {},
            str(confidence) if confidence else None)
