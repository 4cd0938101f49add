"""Random placement of the body and the scanner grid: pose, field of view, spacing, file orientation.

The image grid is built around a field-of-view box given in the body frame: its corners are moved
into patient space by the body pose, then projected on the grid's axes (the columns of the
direction matrix) to find the grid's origin and size. Any direction matrix works, so the same code
writes LPS, RAS, flipped, permuted and slightly oblique files.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import cast

import numpy as np

from .anatomy import Anatomy, Z_MAX

#: Orientation codes written into files (ITK/DICOM convention: the letter each axis points *to*).
ORIENTATIONS = ("LPS", "RAS", "LPI", "RPS", "LAS", "RAI", "PLS", "LSP")

_LETTER_AXIS = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}

#: Fields of view along the body (mm before the height scale): whole trunk, chest, abdomen-pelvis...
FIELDS_OF_VIEW = {
    "trunk": (0.0, Z_MAX),
    "chest": (340.0, Z_MAX),
    "abdomen_pelvis": (0.0, 480.0),
    "chest_abdomen": (200.0, 700.0),
    "neck_to_pelvis": (30.0, 720.0),
}


def direction_from_code(code: str) -> np.ndarray:
    """3×3 direction matrix (columns = grid axes in LPS) of an orientation code like ``"RAS"``."""
    matrix = np.zeros((3, 3))
    for column, letter in enumerate(code):
        axis, sign = _LETTER_AXIS[letter]
        matrix[axis, column] = sign
    if sorted(_LETTER_AXIS[c][0] for c in code) != [0, 1, 2]:
        raise ValueError(f"{code!r} is not a valid orientation code")
    return matrix


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix from angles in degrees (applied x, then y, then z)."""
    ax, ay, az = np.radians([rx, ry, rz])
    mx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    my = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    mz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return mz @ my @ mx


@dataclass
class Geometry:
    """Where the body lies in patient space and the grid the image is written on."""

    body_rotation: np.ndarray  # body frame → patient LPS
    body_offset: np.ndarray  # patient position of the body-frame origin (mm)
    direction: np.ndarray  # 3×3, columns = grid axes in patient LPS
    spacing: np.ndarray  # mm per voxel along each grid axis (axis 2 = slice axis)
    origin: np.ndarray
    size: tuple[int, int, int]
    orientation: str
    oblique_degrees: float
    field_of_view: str
    slice_thickness: float

    def body_points(self, dtype=np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body-frame coordinates of every voxel centre, arrays in SimpleITK order ``[k, j, i]``."""
        # q = R^T (origin + D diag(s) idx - offset): affine in the index, built by broadcasting
        matrix = self.body_rotation.T @ self.direction @ np.diag(self.spacing)
        shift = self.body_rotation.T @ (self.origin - self.body_offset)
        i = np.arange(self.size[0], dtype=dtype)[None, None, :]
        j = np.arange(self.size[1], dtype=dtype)[None, :, None]
        k = np.arange(self.size[2], dtype=dtype)[:, None, None]
        return tuple(
            (i * dtype(matrix[r, 0]) + j * dtype(matrix[r, 1])) + (k * dtype(matrix[r, 2]) + dtype(shift[r]))
            for r in range(3)
        )


def random_geometry(rng: np.random.Generator, anatomy: Anatomy, spacing_range=((2.5, 4.0), (2.5, 5.0)),
                    orientation: str | None = None, field_of_view: str | None = None) -> Geometry:
    """Draw pose, field of view, spacing and file orientation for one phantom."""
    orientation = orientation or str(rng.choice(ORIENTATIONS))
    base = direction_from_code(orientation)
    oblique = float(rng.uniform(3.0, 10.0)) if rng.random() < 0.3 else 0.0
    tilt = rotation(*(rng.normal(0.0, 1.0, 3) * oblique / np.sqrt(3)))
    direction = tilt @ base
    body_rotation = rotation(rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(-6, 6))
    body_offset = rng.uniform(-30.0, 30.0, 3) + np.array([0.0, 0.0, rng.uniform(-400.0, 400.0)])

    fov_name = field_of_view or str(rng.choice(list(FIELDS_OF_VIEW)))
    z0, z1 = (anatomy.z(v) + rng.uniform(-25.0, 25.0) for v in FIELDS_OF_VIEW[fov_name])
    half_x = rng.uniform(170.0, 240.0)
    half_y = rng.uniform(135.0, 190.0)
    y_center = rng.uniform(-15.0, 15.0)
    corners = np.array([(x, y, z) for x, y, z in itertools.product(
        (-half_x, half_x), (y_center - half_y, y_center + half_y), (z0, z1))])
    patient = corners @ body_rotation.T + body_offset

    in_plane = rng.uniform(*spacing_range[0])
    slice_spacing = rng.uniform(*spacing_range[1])
    spacing = np.array([in_plane, in_plane, slice_spacing])
    projections = patient @ direction  # coordinate of each corner along each grid axis
    low, high = projections.min(axis=0), projections.max(axis=0)
    size = cast("tuple[int, int, int]",
                tuple(int(np.ceil((hi - lo) / s)) + 1 for lo, hi, s in zip(low, high, spacing)))
    origin = direction @ low
    thickness = slice_spacing * rng.uniform(1.0, 1.5)
    return Geometry(body_rotation, body_offset, direction, spacing, origin, size, orientation,
                    oblique, fov_name, float(thickness))
