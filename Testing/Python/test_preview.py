"""The PNG preview: radiological display convention whatever the file orientation, tree colours,
a readable PNG, nothing written on failure."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import BUNDLED_TREE
from saltseg.io.preview import GAP_PIXELS, render_preview, write_preview


def _marked_volume(direction_code: str):
    """A 40 mm cube of soft tissue in air: label 1 in the patient's right half, label 2 in the
    superior quarter (LPS grid first, then resampled into the requested storage orientation)."""
    size = 20
    array = np.full((size, size, size), -1000, dtype=np.int16)
    array[2:-2, 2:-2, 2:-2] = 40
    labels = np.zeros_like(array, dtype=np.uint8)
    labels[4:12, 6:14, 3:8] = 1    # x index small = patient right (LPS: x grows to the left)
    labels[16:19, 6:14, 8:12] = 2  # z index large = superior
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(image)
    return sitk.DICOMOrient(image, direction_code), sitk.DICOMOrient(labelmap, direction_code)


def _panel_bounds(rgb: np.ndarray, size: int) -> list[slice]:
    return [slice(i * (size + GAP_PIXELS), i * (size + GAP_PIXELS) + size) for i in range(3)]


def _overlay_pixels(image, labelmap, value, tree) -> list[np.ndarray]:
    """Per view (axial, coronal, sagittal): pixel coordinates tinted by label ``value`` alone."""
    only = sitk.Cast(labelmap == value, labelmap.GetPixelID()) * value
    tinted = render_preview(image, only, tree, pixel_mm=2.0).astype(int)
    plain = render_preview(image, labelmap * 0, tree, pixel_mm=2.0).astype(int)
    changed = np.abs(tinted - plain).sum(axis=2) > 0
    return [np.argwhere(changed[:, s]) for s in _panel_bounds(changed, 20)]


@pytest.mark.parametrize("storage", ["LPS", "RAS", "LAI", "PSL"])
def test_views_follow_the_radiological_convention_in_any_storage_order(small_tree, storage):
    image, labelmap = _marked_volume(storage)
    axial, coronal, _ = _overlay_pixels(image, labelmap, 1, small_tree)
    assert len(axial) and axial[:, 1].mean() < 10, "patient right must be on the left of the axial view"
    assert len(coronal) and coronal[:, 1].mean() < 10, "patient right must be on the left of the coronal view"
    _, coronal, sagittal = _overlay_pixels(image, labelmap, 2, small_tree)
    assert len(coronal) and coronal[:, 0].mean() < 10, "superior must be up in the coronal view"
    assert len(sagittal) and sagittal[:, 0].mean() < 10, "superior must be up in the sagittal view"


def test_write_preview_writes_an_rgb_png_and_nothing_on_failure(tmp_path, small_tree, monkeypatch):
    image, labelmap = _marked_volume("RAS")
    path = write_preview(image, labelmap, small_tree, tmp_path / "preview.png")
    png = sitk.ReadImage(str(path))
    assert png.GetNumberOfComponentsPerPixel() == 3 and png.GetPixelID() == sitk.sitkVectorUInt8
    with pytest.raises(ValueError, match=r"\.png"):
        write_preview(image, labelmap, small_tree, tmp_path / "preview.jpg")

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(sitk, "WriteImage", full_disk)
    with pytest.raises(OSError):
        write_preview(image, labelmap, small_tree, tmp_path / "other.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png"]


#: Run in a fresh process: a 256³ int16 CT (32 MB) with a labelmap, the kernel's peak-RSS mark reset,
#: then the preview; prints the peak memory it added, in MB.
_PEAK_ADDED_BY_PREVIEW = """
import numpy as np, SimpleITK as sitk
from saltseg.io.preview import render_preview
from saltseg.tree.labeltree import LabelTree
tree = LabelTree.from_tree_labels_file({tree!r})
ct = np.full((256, 256, 256), -1000, np.int16)
ct[40:200, 50:210, 60:220] = 40
labels = (ct > 0).astype(np.uint8) * 2
image, labelmap = sitk.GetImageFromArray(ct), sitk.GetImageFromArray(labels)
image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
labelmap.CopyInformation(image)
del ct, labels
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field)) / 1024
render_preview(image[:8, :8, :8], labelmap[:8, :8, :8], tree, pixel_mm=4.0)  # load the code paths first
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")
before = status("VmRSS:")
render_preview(image, labelmap, tree, pixel_mm=4.0)
print(status("VmHWM:") - before)
"""


def test_the_preview_of_a_large_volume_needs_memory_for_its_three_views_only():
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak")
    run = subprocess.run([sys.executable, "-c", _PEAK_ADDED_BY_PREVIEW.format(tree=str(BUNDLED_TREE))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    ct_mb = 256**3 * 2 / 2**20
    # Before: a float32 copy of the CT, reoriented copies of it and of the labels: 4-5x the CT.
    assert float(run.stdout) < ct_mb / 4
