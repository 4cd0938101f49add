"""Pre- and post-processing against MONAI itself, composed as SALT's ``predict.py`` composes it
(``salt/input_pipeline.py``: ``Orientationd("LPI")``, ``Spacingd`` bilinear without aligned
corners, ``ScaleIntensityRanged`` -1024..1024 → 0..1, or for a z-scored model a clip to
-1024..3071 then ``NormalizeIntensityd``; ``KeepLargestConnectedComponentd(independent=False)``),
on the shared CT: arrays and affines compared. Nothing of the engine builds the reference."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

monai_transforms = pytest.importorskip("monai.transforms")
from monai.data import MetaTensor  # noqa: E402
from monai.data.utils import compute_shape_offset  # noqa: E402

from saltseg.inference.postprocess import keep_largest_component  # noqa: E402
from saltseg.inference.preprocess import prepare_volume, resampled_size  # noqa: E402
from saltseg.model.model_io import IntensityProperties  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI's Orientation labels notice
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def ras_affine(size_spacing_origin_direction) -> np.ndarray:
    """A voxel-to-RAS affine (MONAI's convention) from an ITK (LPS) geometry."""
    spacing, origin, direction = size_spacing_origin_direction
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(direction, dtype=float).reshape(3, 3) * np.asarray(spacing, dtype=float)
    affine[:3, 3] = origin
    return LPS_TO_RAS @ affine


def as_monai_image(image: sitk.Image) -> MetaTensor:
    """What MONAI's ``LoadImaged`` + ``EnsureChannelFirstd`` give: channel first, voxel index order
    (i, j, k), RAS affine."""
    array = sitk.GetArrayFromImage(image).astype(np.float32).transpose(2, 1, 0)[None]
    affine = ras_affine((image.GetSpacing(), image.GetOrigin(), image.GetDirection()))
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(array)), affine=torch.from_numpy(affine))


def salt_preprocessing(image: sitk.Image, spacing, intensity=None) -> MetaTensor:
    """SALT's ``get_validation_transforms`` without the file loading."""
    t = monai_transforms
    x = t.Orientation(axcodes="LPI")(as_monai_image(image))
    x = t.Spacing(pixdim=spacing, mode="bilinear", align_corners=False)(x)
    if intensity is None:
        return t.ScaleIntensityRange(a_min=-1024, a_max=1024, b_min=0.0, b_max=1.0, clip=True)(x)
    x = t.ScaleIntensityRange(a_min=-1024, a_max=3071, b_min=-1024, b_max=3071, clip=True)(x)
    return t.NormalizeIntensity(subtrahend=intensity.mean, divisor=intensity.std)(x)


@pytest.fixture(scope="module")
def ct_orientations(example_ct_small) -> dict[str, sitk.Image]:
    """The shared CT as stored (RAS) and with its axes permuted and flipped (sagittal-first)."""
    return {"RAS": example_ct_small, "SAL": sitk.DICOMOrient(example_ct_small, "SAL")}


Z_SCORE = IntensityProperties(mean=60.0, std=480.0)
CASES = [(o, s, i) for o in ("RAS", "SAL") for s in ((6.0, 6.0, 6.0), (3.5, 2.5, 4.5)) for i in (None, Z_SCORE)]
CASES += [("RAS", (1.5, 1.5, 1.5), None), ("SAL", (1.5, 1.5, 1.5), Z_SCORE)]  # the published spacing


@pytest.mark.parametrize("orientation, spacing, intensity", CASES,
                         ids=[f"{o}-{s[0]}x{s[1]}x{s[2]}-{'z' if i else 'range'}" for o, s, i in CASES])
def test_preprocessing_matches_monai_as_salt_composes_it(ct_orientations, orientation, spacing, intensity):
    """6 mm from 3 mm puts the last voxel of each axis beyond the scan: MONAI samples it with the
    edge value (border padding), which the engine must do too."""
    image = ct_orientations[orientation]
    reference = salt_preprocessing(image, spacing, intensity)
    prepared = prepare_volume(image, spacing, intensity)
    expected = np.asarray(reference[0])
    assert prepared.array.shape == expected.shape
    np.testing.assert_allclose(prepared.array, expected, atol=2e-5 if intensity is None else 1e-4)
    grid = prepared.grid
    np.testing.assert_allclose(ras_affine((grid.spacing, grid.origin, grid.direction)),
                               np.asarray(reference.affine), atol=1e-4)


@pytest.mark.parametrize("size, spacing", [((122, 101, 112), (3.0, 3.0, 3.0)), ((512, 512, 20), (0.977, 0.977, 2.0)),
                                           ((10, 12, 3), (0.75, 0.75, 1.5)), ((7, 9, 5), (0.8, 2.9, 1.1))])
def test_resampled_size_is_monais(size, spacing):
    target = (1.5, 1.5, 1.5)
    expected, _ = compute_shape_offset(size, np.diag([*spacing, 1.0]), np.diag([*target, 1.0]))
    assert list(resampled_size(size, spacing, target)) == [int(v) for v in expected]


def test_largest_component_matches_monai(shared_data):
    """On the shared CT's real segmentation, with islands added: one touching the body only at a
    corner (26-connected: kept), one separate (removed), one of another label (removed)."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))).astype(np.int64)
    labels[labels > 0] = labels[labels > 0] % 7 + 1
    body = np.argwhere(labels > 0)
    corner = body[np.argmax(body.sum(axis=1))]  # a foreground voxel with no foreground beyond it
    beyond = tuple(np.minimum(corner + 1, np.asarray(labels.shape) - 1))
    labels[beyond] = 3
    labels[0, 0, 0:3] = 5
    labels[-1, -1, -2:] = 2
    ours = keep_largest_component(labels.copy(), 0)
    monai = monai_transforms.KeepLargestConnectedComponent(independent=False, is_onehot=False)
    reference = np.asarray(monai(torch.from_numpy(labels)[None]))[0]
    assert ours[0, 0, 0] == 0 and ours[-1, -1, -1] == 0  # the test's islands are really removed
    np.testing.assert_array_equal(ours, reference)
