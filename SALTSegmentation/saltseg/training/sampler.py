"""Random training windows with class-balanced centres and intensity augmentation.

Windows have the model's roi size. With probability ``balanced`` a window is centred on a random
voxel of a random node present in the case (so small organs are seen as often as large ones),
otherwise anywhere. Axes where the volume is smaller than the window are padded with air at a
random offset (inference centre-pads; the network must not rely on where the body sits); padded
voxels are ignored by the loss, as inference discards them.

Augmentation is intensity-only (contrast, brightness, noise). No mirroring: flipping the left-right
axis would teach the network that a left kidney may look like a right one, the very confusion the
tree must never make; rotations and sizes already vary in the phantoms.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .data import IGNORE, PreparedCase

MAX_POINTS_PER_NODE = 4000


class PatchSampler:
    def __init__(self, cases: Sequence[PreparedCase], roi_size: Sequence[int], rng: np.random.Generator,
                 balanced: float = 0.6, pad_value: float = 0.0, augment: bool = True) -> None:
        if not cases:
            raise ValueError("no cases to sample from")
        self.cases = list(cases)
        self.roi = np.asarray(roi_size, dtype=np.int64)
        self.rng = rng
        self.balanced = balanced
        self.pad_value = pad_value
        self.augment = augment
        # per case: node → a subsample of its voxel coordinates (keeps memory small)
        self.points: list[dict[int, np.ndarray]] = []
        for case in self.cases:
            nodes = {}
            flat = case.target.reshape(-1)
            for node in np.unique(flat):
                if node == IGNORE:
                    continue
                where = np.flatnonzero(flat == node)
                if len(where) > MAX_POINTS_PER_NODE:
                    where = rng.choice(where, MAX_POINTS_PER_NODE, replace=False)
                nodes[int(node)] = np.stack(np.unravel_index(where, case.target.shape), axis=1)
            self.points.append(nodes)

    def _start(self, shape: np.ndarray, center: np.ndarray) -> np.ndarray:
        start = center - self.roi // 2 + self.rng.integers(-self.roi // 4, self.roi // 4 + 1)
        low = np.minimum(shape - self.roi, 0)  # negative: the window may stick out (padding)
        high = np.maximum(shape - self.roi, 0)
        small = shape < self.roi
        start = np.clip(start, low, high)
        # a window larger than the volume: place the volume at a random offset inside it
        start[small] = [self.rng.integers(low[i], 1) for i in np.flatnonzero(small)]
        return start

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One window: image ``[1, *roi]`` float32 and target ``[*roi]`` int64."""
        index = int(self.rng.integers(len(self.cases)))
        case, points = self.cases[index], self.points[index]
        shape = np.asarray(case.image.shape)
        if points and self.rng.random() < self.balanced:
            node = list(points)[int(self.rng.integers(len(points)))]
            candidates = points[node]
            center = candidates[int(self.rng.integers(len(candidates)))]
        else:
            center = np.array([self.rng.integers(s) for s in shape])
        start = self._start(shape, center)
        image = np.full(tuple(self.roi), self.pad_value, dtype=np.float32)
        target = np.full(tuple(self.roi), IGNORE, dtype=np.int64)
        src = tuple(slice(max(s, 0), min(s + r, n)) for s, r, n in zip(start, self.roi, shape))
        dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start))
        image[dst] = case.image[src]
        target[dst] = case.target[src]
        if self.augment:
            image = self._augment(image)
        return image[None], target

    def _augment(self, image: np.ndarray) -> np.ndarray:
        contrast = self.rng.uniform(0.93, 1.07)
        brightness = self.rng.uniform(-0.015, 0.015)
        image = image * np.float32(contrast) + np.float32(brightness)
        sigma = self.rng.uniform(0.0, 0.008)  # up to ~16 HU on the [-1024, 1024] → [0, 1] scale
        if sigma > 0:
            image += self.rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
        return image

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        items = [self.sample() for _ in range(size)]
        return np.stack([i for i, _ in items]), np.stack([t for _, t in items])
