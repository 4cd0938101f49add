"""Every bad input gets a specific message; odd but usable input gets a warning."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.errors import InputImageError
from saltseg.io.image_io import check_ct_image, read_image
from saltseg.model.model_io import load_model
from saltseg.inference.pipeline import SegmentOptions, segment_image


def write(image: sitk.Image, path) -> str:
    sitk.WriteImage(image, str(path))
    return str(path)


def test_missing_empty_and_corrupt_files(tmp_path):
    with pytest.raises(InputImageError, match="does not exist"):
        read_image(tmp_path / "missing.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(InputImageError, match="empty file"):
        read_image(tmp_path / "empty.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputImageError, match="junk.nii.gz is truncated or corrupt: its compressed stream is corrupt"):
        read_image(tmp_path / "junk.nii.gz")


def test_truncated_nifti_is_reported(tmp_path, shared_data):
    data = (shared_data / "example_ct_sm.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputImageError, match="truncated"):
        read_image(tmp_path / "cut.nii.gz")


def test_dicom_series_folder_is_read_and_empty_folder_refused(tmp_path, shared_data):
    image = read_image(shared_data / "example_ct_dicom")
    assert image.GetSize() == (512, 512, 20) and image.GetSpacing()[2] == pytest.approx(2.0)
    check = check_ct_image(image)
    assert check.warnings == []
    with pytest.raises(InputImageError, match="holds no DICOM series"):
        read_image(tmp_path)


@pytest.mark.parametrize("image, message", [
    (sitk.Image([64, 64], sitk.sitkInt16), r"2D .*SALT segments 3D CT"),
    (sitk.Image([8, 8, 8, 3], sitk.sitkInt16), r"4D .*select one time point"),
    (sitk.Image([32, 32, 1], sitk.sitkInt16), "single slice"),
    (sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3), "3 components per voxel"),
    (sitk.Image([16, 16, 16], sitk.sitkInt16) - 1000, "every voxel has the value -1000"),
])
def test_unsuitable_images_are_rejected(tmp_path, image, message):
    path = write(image, tmp_path / "image.nrrd")
    with pytest.raises(InputImageError, match=message):
        check_ct_image(read_image(path))


def test_nan_voxels_are_rejected_with_a_count():
    array = np.full((10, 12, 14), -1000.0, np.float32)
    array[5, 5, 5:8] = np.nan
    with pytest.raises(InputImageError, match="contains 3 NaN or infinite voxels"):
        check_ct_image(sitk.GetImageFromArray(array))


def test_sheared_direction_is_rejected():
    image = sitk.Image([8, 8, 8], sitk.sitkInt16) - 1000
    image[2, 2, 2] = 100
    image.SetDirection((1, 0.5, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(InputImageError, match="not orthonormal"):
        check_ct_image(image)


def test_mr_like_intensities_warn_but_run(small_threshold_model):
    rng = np.random.default_rng(0)
    mr = sitk.GetImageFromArray((rng.random((20, 40, 40)) * 800).astype(np.int16))
    mr.SetSpacing((6.0, 6.0, 6.0))
    result = segment_image(mr, load_model(small_threshold_model, "cpu"), SegmentOptions())
    assert any("does not look like a CT" in w for w in result.warnings)


def test_dicom_modality_other_than_ct_warns():
    image = sitk.GetImageFromArray(np.linspace(-1000, 1000, 4096).reshape(16, 16, 16).astype(np.int16))
    image.SetMetaData("0008|0060", "MR")
    assert any("modality is MR" in w for w in check_ct_image(image).warnings)


def test_tiny_volume_is_padded_and_segmented(small_threshold_model, small_tree):
    ct = sitk.Image([5, 4, 3], sitk.sitkInt16) - 1000
    ct.SetSpacing((6.0, 6.0, 6.0))
    ct[1:4, 1:3, 1:2] = 700
    result = segment_image(ct, load_model(small_threshold_model, "cpu"))
    labels = sitk.GetArrayFromImage(result.labelmap)
    assert result.labelmap.GetSize() == (5, 4, 3)
    assert (labels[1, 1:3, 1:4] == small_tree.label_value("body,bone")).all()


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.nrrd"])
def test_truncated_files_of_every_format_are_refused(tmp_path, example_ct_small, name):
    path = tmp_path / name
    sitk.WriteImage(example_ct_small, str(path), name != "ct.nii")
    complete = read_image(path)  # the untouched file reads fine
    assert complete.GetSize() == example_ct_small.GetSize()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputImageError, match="truncated"):
        read_image(path)


def _ct_with_spacing(spacing, size=(24, 24, 12)):
    array = np.full(size[::-1], -1000, np.int16)
    array[:, 6:18, 6:18] = 40
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


@pytest.mark.parametrize("spacing, shown, hint", [
    ((50.0, 50.0, 50.0), "50 × 50 × 50 mm", "cm"),
    ((0.8, 0.8, 50.0), "0.8 × 0.8 × 50 mm", "cm"),
    ((0.01, 0.01, 0.01), "0.01 × 0.01 × 0.01 mm", "in m"),
])
def test_implausible_spacing_is_refused_before_any_work(small_threshold_model, spacing, shown, hint, monkeypatch):
    import saltseg.inference.pipeline as pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("preprocessing started")

    monkeypatch.setattr(pipeline, "reorient", no_work)
    with pytest.raises(InputImageError, match=rf"voxel spacing {shown} is not plausible .*{hint}"):
        segment_image(_ct_with_spacing(spacing), load_model(small_threshold_model, "cpu"))


def test_implausible_extent_is_refused():
    with pytest.raises(InputImageError, match=r"longer than any body .*check its spacing"):
        check_ct_image(_ct_with_spacing((1.0, 1.0, 19.0), size=(24, 24, 300)))


def test_values_scaled_by_a_million_warn_as_non_ct(small_threshold_model):
    image = _ct_with_spacing((6.0, 6.0, 6.0))
    scaled = sitk.Cast(image, sitk.sitkFloat32) * 1e6
    result = segment_image(scaled, load_model(small_threshold_model, "cpu"))
    assert any("far outside Hounsfield units" in w for w in result.warnings)
    assert check_ct_image(image).warnings == []  # the same image in HU gives no warning
