"""Inputs for the batch tests: small phantoms, a corrupt file and real DICOM series."""
from __future__ import annotations

import shutil
from pathlib import Path

import SimpleITK as sitk

from saltseg.phantom import generate_phantom

PHANTOM_SEEDS = (3101, 3102, 3103)


def small_phantom(seed: int) -> sitk.Image:
    """A coarse (8 mm) phantom cut to the central 36×28×10 voxels of the abdomen: one model window
    of the demo model, about a second to segment."""
    image = generate_phantom(seed, spacing_range=8.0, field_of_view="chest_abdomen").image
    x, y, z = (size // 2 for size in image.GetSize())
    return image[x - 18:x + 18, y - 14:y + 14, z - 5:z + 5]


def write_phantom_cohort(root: Path) -> list[Path]:
    """``root/site1/ct_<seed>.nii.gz`` and ``root/site2/ct_<seed>.nrrd`` phantoms; returns their paths."""
    paths = []
    for index, seed in enumerate(PHANTOM_SEEDS):
        folder = root / f"site{1 + index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"ct_{seed}.nii.gz" if index % 2 == 0 else f"ct_{seed}.nrrd")
        sitk.WriteImage(small_phantom(seed), str(path), True)
        paths.append(path)
    return paths


def write_corrupt_nifti(path: Path) -> Path:
    """A .nii.gz whose gzip stream breaks off: what an interrupted copy leaves behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 40)
    return path


def copy_series_with_uids(source: Path, target: Path, patient_id: str = "SALT-TEST-1") -> str:
    """Copy a DICOM series, restoring the identifiers an anonymiser blanked (SOP UIDs from the file
    meta, new Study/Series UIDs) so that a DICOM SEG can reference it; returns its Series UID."""
    import pydicom
    from pydicom.uid import generate_uid

    target.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    for file in sorted(source.iterdir()):
        dataset = pydicom.dcmread(file)
        dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.PatientID = patient_id
        dataset.save_as(target / file.name)
    return series


def copy_series(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
