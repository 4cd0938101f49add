"""A NIfTI file whose qform and sform place the image in different places is read as ITK (and
Slicer) reads it, with a warning that names both transforms, how far apart they are, which one
placed the labels and that nibabel-based tools take the other; headers that agree (oblique ones
too) or set one transform only say nothing. A NIfTI-2 file, which ITK cannot read, is refused by name."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from saltseg.io.image_io import read_image

nibabel = pytest.importorskip("nibabel")


def _affine(offset_z: float = 0.0, degrees: float = 0.0) -> np.ndarray:
    """1.5 × 1.5 × 3 mm voxels, rotated about z by ``degrees``, origin moved ``offset_z`` mm."""
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.5, 1.5, 3.0])
    affine[:3, 3] = (10.0, 20.0, 30.0 + offset_z)
    return affine


def _write(path: Path, qform: np.ndarray, qcode: int, sform: np.ndarray, scode: int, kind=None) -> Path:
    data = np.full((24, 20, 12), -1000, dtype=np.int16)
    data[8:16, 6:14, 3:9] = 40
    image = (kind or nibabel.Nifti1Image)(data, None)
    image.set_qform(qform, code=qcode)
    image.set_sform(sform, code=scode)
    nibabel.save(image, str(path))
    return path


def _read(path: Path, caplog):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="saltseg"):
        image = read_image(path)
    return image, caplog.text


def _ras_origin(image) -> np.ndarray:
    return np.asarray(image.GetOrigin()) * np.array([-1, -1, 1])


def test_an_aligned_sform_apart_from_the_qform_is_named_and_the_qform_places_the_labels(tmp_path, caplog):
    path = _write(tmp_path / "ct.nii.gz", _affine(), 1, _affine(offset_z=50.0), 2)
    image, warnings = _read(path, caplog)
    assert np.allclose(_ras_origin(image), (10, 20, 30))  # where ITK (and Slicer) put it
    assert "qform (code 1, scanner) and its sform (code 2, aligned) are up to 50.0 mm apart" in warnings
    assert "The qform is used" in warnings
    assert "nibabel-based tools take the sform" in warnings


def test_a_scanner_sform_apart_from_the_qform_is_named_as_the_one_used(tmp_path, caplog):
    path = _write(tmp_path / "ct.nii", _affine(), 1, _affine(offset_z=-20.0), 1)
    image, warnings = _read(path, caplog)
    assert np.allclose(_ras_origin(image), (10, 20, 10))
    assert "are up to 20.0 mm apart. The sform is used" in warnings


def test_a_nifti_2_file_is_refused_by_name(tmp_path):
    from saltseg.errors import InputImageError

    path = _write(tmp_path / "ct.nii.gz", _affine(), 1, _affine(), 1, kind=nibabel.Nifti2Image)
    with pytest.raises(InputImageError, match="NIfTI-2 file, which ITK"):
        read_image(path)


@pytest.mark.parametrize("degrees", [0.0, 23.0])
def test_agreeing_transforms_say_nothing(tmp_path, caplog, degrees):
    path = _write(tmp_path / "ct.nii.gz", _affine(degrees=degrees), 1, _affine(degrees=degrees), 2)
    _, warnings = _read(path, caplog)
    assert warnings == ""


def test_one_transform_alone_says_nothing(tmp_path, caplog):
    path = _write(tmp_path / "ct.nii.gz", _affine(), 1, _affine(offset_z=50.0), 0)
    _, warnings = _read(path, caplog)
    assert warnings == ""
