"""What a DICOM object made from a series (SEG, RT Structure Set) must reference of each source
instance, read from its file: the SOP Class/Instance UIDs (taken from the file meta header where
the dataset's own are empty: it names the same instance) and the Study/Series Instance UIDs."""
from __future__ import annotations

from ..errors import InputImageError

REFERENCED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def read_referenced(name: str, stop_before_pixels: bool = True):
    """(the dataset of file ``name`` with its SOP UIDs completed, the referenced UIDs it lacks)."""
    import pydicom

    try:
        dataset = pydicom.dcmread(name, stop_before_pixels=stop_before_pixels)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputImageError(f"cannot read the DICOM file {name}: {error}") from error
    meta = getattr(dataset, "file_meta", None)
    for attribute, meta_attribute in (("SOPClassUID", "MediaStorageSOPClassUID"),
                                      ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not str(dataset.get(attribute, "") or "") and meta is not None and meta.get(meta_attribute):
            setattr(dataset, attribute, meta.get(meta_attribute))
    return dataset, [attribute for attribute in REFERENCED_UIDS if not str(dataset.get(attribute, "") or "")]
