"""Write phantoms in SALT's dataset layout.

``<dataset>/labels.txt`` (label value and leaf name per line), ``<dataset>/tree-labels.txt`` (line
``i`` = tree path of label value ``i``, SALT's format) and ``<dataset>/<split>/{images,labels}/``
with one ``phantom_<seed>.nii.gz`` per case in each, plus ``<dataset>/phantoms.json`` recording how
every case was drawn.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import SimpleITK as sitk

from ..atomic import atomic_write
from ..io.writers import write_with_sitk
from ..errors import OutputError
from .generator import DEFAULT_SPACING, generate_phantom
from .tree import PHANTOM_LEAF_PATHS, phantom_tree_labels_text

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def case_name(seed: int) -> str:
    return f"phantom_{int(seed):05d}.nii.gz"


def write_dataset_files(dataset: Union[str, Path]) -> Path:
    """Create the dataset folder with its ``labels.txt`` and ``tree-labels.txt``."""
    dataset = Path(dataset)
    try:
        dataset.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create dataset folder {dataset}: {error.strerror}") from error
    labels = "".join(f"{value}\t{path[-1] if path[-1] != 'other' else '_'.join(path[-2:])}\n"
                     for value, path in enumerate(PHANTOM_LEAF_PATHS))
    atomic_write(dataset / "labels.txt", lambda tmp: tmp.write_text(labels, encoding="utf-8"))
    atomic_write(dataset / "tree-labels.txt",
                 lambda tmp: tmp.write_text(phantom_tree_labels_text(), encoding="utf-8"))
    return dataset


def _image_writer(image: sitk.Image) -> Callable[[Path], None]:
    """``write(tmp)`` for :func:`atomic_write`: ``image`` compressed to ``tmp``."""
    return lambda tmp: write_with_sitk(image, tmp)


def write_phantoms(dataset: Union[str, Path], seeds: Iterable[int], split: str = "train",
                   spacing_range=DEFAULT_SPACING, orientation: Optional[str] = None,
                   field_of_view: Optional[str] = None, progress=None) -> list[Path]:
    """Generate one phantom per seed into ``<dataset>/<split>/{images,labels}``; returns the
    image paths. Existing cases with the same seed are overwritten (same seed, same voxels)."""
    if split not in SPLITS:
        raise OutputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    dataset = write_dataset_files(dataset)
    images, labels = dataset / split / "images", dataset / split / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    index_file = dataset / "phantoms.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    written = []
    for seed in seeds:
        phantom = generate_phantom(seed, spacing_range, orientation, field_of_view)
        name = case_name(seed)
        atomic_write(images / name, _image_writer(phantom.image), suffix=".nii.gz")
        atomic_write(labels / name, _image_writer(phantom.labels), suffix=".nii.gz")
        index[f"{split}/{name}"] = phantom.info
        written.append(images / name)
        if progress is not None:
            progress(seed)
    atomic_write(index_file, lambda tmp: tmp.write_text(json.dumps(index, indent=1, sort_keys=True)))
    logger.info("wrote %d phantoms to %s/%s", len(written), dataset, split)
    return written
