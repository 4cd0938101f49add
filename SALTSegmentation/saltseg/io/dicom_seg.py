"""DICOM Segmentation (SEG) output with ``highdicom``, so results can go back to a PACS.

One segment per structure present, labelled with its readable name; coded with the SNOMED CT type
(and laterality) from :mod:`saltseg.tree.anatomic_codes`, the same source the Slicer module uses.
A structure without a sure code gets the generic SNOMED CT "Anatomical structure" type: a valid
coding that claims nothing wrong, while the label names it. The tree path is the segment's
Tracking ID (and its description), the key that maps a segment back to the SALT tree.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..atomic import atomic_write
from ..errors import InputImageError, OutputError
from .dicom_references import read_referenced
from .dicom_geometry import plane_from_dataset
from .dicom_regular_grid import labels_on_planes
from .writers import DICOM_TREE_PATH_DESCRIPTION
from ..tree.anatomic_codes import SCHEME, anatomic_code
from ..tree.label_table import label_table
from ..tree.labeltree import LabelTree

logger = logging.getLogger(__name__)

DICOM_SEG_SUFFIX = ".seg.dcm"
ANATOMICAL_STRUCTURE = ("91723000", "Anatomical Structure")  # SNOMED CT: category and fallback type
SERIES_NUMBER = 9100
INSTALL_HINT = "DICOM SEG output needs highdicom: pip install 'saltseg[dicom-seg]'"


def require_highdicom():
    try:
        import highdicom
    except ImportError as error:
        raise OutputError(INSTALL_HINT) from error
    return highdicom


def segment_descriptions(tree: LabelTree, values: Sequence[int], model_id: str, patient_id: str) -> list:
    """highdicom segment descriptions for the label ``values``, numbered 1.. in that order."""
    hd = require_highdicom()
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    category = hd.sr.CodedConcept(ANATOMICAL_STRUCTURE[0], SCHEME, ANATOMICAL_STRUCTURE[1])
    algorithm = hd.AlgorithmIdentificationSequence(
        name="SALT", family=codes.cid7162.ArtificialIntelligence,
        version=f"saltseg {__version__}, model {model_id or 'unnamed'}")
    descriptions = []
    for number, entry in enumerate(label_table(tree, values), start=1):
        code = anatomic_code(entry.path)
        if code is None:
            property_type = category
        else:
            property_type = hd.sr.CodedConcept(code.value, SCHEME, code.meaning)
        red, green, blue = (int(round(255 * c)) for c in entry.color)
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=entry.name[:64],  # LO: at most 64 characters
            segmented_property_category=category,
            segmented_property_type=property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_id=entry.node_id,
            # Stable per patient and structure, so the same organ can be followed across studies.
            tracking_uid=generate_uid(entropy_srcs=[patient_id, entry.node_id]),
            display_color=hd.color.CIELabColor.from_rgb(red, green, blue),
        )
        description.SegmentDescription = f"{DICOM_TREE_PATH_DESCRIPTION}{entry.node_id}"[:1024]
        if code is not None and code.laterality is not None:
            description.SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept(code.laterality[0], SCHEME, code.laterality[1])]
        descriptions.append(description)
    return descriptions


def source_headers(source_files: Sequence[str], where: str) -> list:
    """The series' headers (no pixels), checked to carry the identifiers a SEG must reference.

    Empty SOP Class/Instance UIDs are taken from the file meta header, which names the same
    instance; a series without Study/Series Instance UIDs (over-zealous anonymisation) cannot
    be referenced at all and is refused before any computation."""
    require_highdicom()
    headers = []
    for name in source_files:
        header, missing = read_referenced(name)
        if missing:
            raise InputImageError(
                f"the DICOM series in {where} has no {', '.join(missing)} (removed by anonymisation?): a DICOM "
                "SEG cannot reference it; choose --format seg.nrrd or nii.gz for this series")
        headers.append(header)
    return headers


def write_dicom_seg(labelmap: sitk.Image, tree: LabelTree, sources: Sequence, path: Path,
                    model_id: str = "") -> Path:
    """Write the labelmap (of the series whose :func:`source_headers` are ``sources``: on its grid,
    or on the regular grid it was resampled onto) as a binary DICOM SEG referencing that series,
    one frame per source image with the labels where that image lies. Written atomically."""
    hd = require_highdicom()
    from pydicom.uid import generate_uid

    names = [str(getattr(source, "filename", "") or "") for source in sources]
    where = str(Path(names[0]).parent) if names and names[0] else "the source series"
    # Frame k is placed where source k lies: its labels are taken there, which also carries a
    # resampled (gantry-tilted or gapped) series' labels back onto its own slices.
    array = labels_on_planes(labelmap, [plane_from_dataset(s, n) for s, n in zip(sources, names)], where)
    background = tree.background_value
    values = [int(v) for v in np.unique(array) if v != background]
    if not values:
        raise OutputError("no structure was found, so there is no segment to write as DICOM SEG")
    # Segment numbers must run 1..K: renumber the present labels in value order.
    lookup = np.zeros(int(array.max()) + 1, dtype=np.uint16)
    lookup[values] = np.arange(1, len(values) + 1, dtype=np.uint16)
    segments = lookup[array]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segments,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(tree, values, model_id,
                                                  str(getattr(sources[0], "PatientID", ""))),
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="SALTSegmentation",
        manufacturer_model_name="saltseg",
        software_versions=__version__,
        device_serial_number="none",
        content_description="SALT whole-body segmentation"[:64],
        series_description=f"SALT segmentation ({model_id})"[:64] if model_id else "SALT segmentation",
    )
    return atomic_write(path, lambda tmp: seg.save_as(str(tmp)), suffix=DICOM_SEG_SUFFIX)
