"""Several DICOM series in one folder: each is named by number and description (never a blank),
the choice follows a stated rule (most slices, then the lowest series number, then the UID), and
GDCM's own warnings never reach the terminal."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import pytest

from saltseg.cli import main
from saltseg.errors import InputImageError
from saltseg.io.dicom_series import CHOICE_RULE, choose_series
from saltseg.io.image_io import read_image


def write_series(source: Path, target: Path, number: Optional[int], description: str, uid: Optional[str],
                 slices: int = 20) -> None:
    """Copy the first ``slices`` files of the shared series into ``target`` as a series of its own
    (blank number/UID as the anonymised original has them when None)."""
    import pydicom
    from pydicom.uid import generate_uid

    target.mkdir(parents=True, exist_ok=True)
    for index, file in enumerate(sorted(source.iterdir())[:slices]):
        dataset = pydicom.dcmread(file)
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.SeriesDescription = description
        dataset.SeriesNumber = "" if number is None else number
        dataset.SeriesInstanceUID = "" if uid is None else uid
        dataset.save_as(target / f"{description.replace(' ', '_')}_{index:03d}.dcm")


@pytest.fixture()
def two_series(tmp_path, shared_data) -> Path:
    folder = tmp_path / "study"
    # UIDs in the opposite order of the numbers: listing order (by UID) would pick series 7.
    write_series(shared_data / "example_ct_dicom", folder, 7, "Body 2.0", "1.2.826.0.1.3680043.8.498.1")
    write_series(shared_data / "example_ct_dicom", folder, 3, "Lung 2.0", "1.2.826.0.1.3680043.8.498.9")
    return folder


def test_equal_series_choose_the_lowest_series_number_and_name_every_series(two_series, shared_data, caplog):
    write_series(shared_data / "example_ct_dicom", two_series, None, "No number", None)  # anonymised: blank UID
    with caplog.at_level(logging.WARNING):
        chosen = choose_series(two_series)
    assert (chosen.number, chosen.description) == ("3", "Lung 2.0")
    warning = caplog.text
    assert 'using series 3 "Lung 2.0" (20 slices, UID 1.2.826.0.1.3680043.8.498.9)' in warning
    assert 'series 7 "Body 2.0" (20 slices' in warning and CHOICE_RULE in warning
    assert 'series without number "No number" (20 slices, no UID)' in warning
    assert "(UID )" not in warning and " ()" not in warning


def test_the_series_with_most_slices_wins_whatever_its_number(tmp_path, shared_data):
    folder = tmp_path / "study"
    write_series(shared_data / "example_ct_dicom", folder, 1, "Scout", "1.2.826.0.1.3680043.8.498.1", slices=12)
    write_series(shared_data / "example_ct_dicom", folder, 9, "Body", "1.2.826.0.1.3680043.8.498.9", slices=20)
    assert choose_series(folder).description == "Body"
    assert read_image(folder).GetSize()[2] == 20


def test_no_gdcm_warning_before_the_no_series_error(tmp_path, capfd):
    (tmp_path / "IM0001").write_bytes(b"\0" * 132 + b"not dicom")
    (tmp_path / "readme.txt").write_text("notes")
    with pytest.raises(InputImageError, match="holds no DICOM series"):
        read_image(tmp_path)
    assert main(["segment", str(tmp_path), "-o", str(tmp_path.parent / "out.nii.gz"), "--model",
                 "salt-phantom-demo", "--quiet"]) == 1
    err = capfd.readouterr().err
    assert err.strip().splitlines() == [f"saltseg: error: {tmp_path} is a folder but holds no DICOM series"]
