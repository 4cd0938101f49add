"""This project's own outputs, written by the writers its commands use: the demo's ``.seg.nrrd``
(the demo model's tree, which is the phantom's), a batch DICOM SEG in that tree on the shared DICOM
series, and ``.seg.nrrd`` files reshaped the way Slicer saves them after edits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicerio

from batch_support import copy_series_with_uids
from saltseg.io.writers import TAG_TREE_PATH, write_result
from saltseg.models.catalog import DEMO_MODEL_ID
from saltseg.phantom import generate_phantom, phantom_tree


def write_demo_seg_nrrd(path: Path) -> sitk.Image:
    """What ``saltseg demo`` writes (the demo model's tree and model id), with the phantom's own
    labels in place of the model's prediction; returns that labelmap."""
    labels = generate_phantom(3000, spacing_range=8.0).labels
    write_result(labels, path, phantom_tree(), DEMO_MODEL_ID)
    return labels


def write_demo_dicom_seg(shared_data: Path, folder: Path) -> tuple[Path, dict[str, int]]:
    """What ``saltseg batch --model salt-phantom-demo --format dicom-seg`` writes for the shared
    DICOM series: every leaf of the demo tree as a block of voxels. Returns the SEG and each tree
    path's voxel count."""
    from saltseg.io.dicom_seg import source_headers, write_dicom_seg

    series = folder / "series"
    copy_series_with_uids(shared_data / "example_ct_dicom", series)
    files = list(sitk.ImageSeriesReader().GetGDCMSeriesFileNames(str(series)))
    image = sitk.ReadImage(files)
    tree = phantom_tree()
    labels = np.full(sitk.GetArrayViewFromImage(image).shape, tree.background_value, np.uint8)
    counts = {}
    leaves = [path for path in tree.leaf_paths if path != ("background",)]
    for number, path in enumerate(leaves):
        row, column = divmod(number, 6)
        labels[4:16, 40 + 100 * row:120 + 100 * row, 20 + 80 * column:90 + 80 * column] = tree.label_value(path)
        counts[",".join(path)] = 12 * 80 * 70
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(image)
    seg = write_dicom_seg(labelmap, tree, source_headers(files, str(series)), folder / "patient.seg.dcm",
                          DEMO_MODEL_ID)
    return seg, counts


def segment_tags(path: Path) -> list[str]:
    """The ``SALT.TreePath`` tag of every segment of a ``.seg.nrrd``, in segment order."""
    document = slicerio.read_segmentation(str(path), skip_voxels=True)
    return [segment["tags"][TAG_TREE_PATH] for segment in document["segments"]]


def merge_segments(source: Path, target: Path, tree_path: str) -> int:
    """``source`` as Slicer saves it after "merge subtree": the segments below ``tree_path``
    replaced by one segment tagged ``tree_path`` that holds their voxels. Returns its voxel count."""
    document = slicerio.read_segmentation(str(source))
    parts = [s for s in document["segments"] if s["tags"][TAG_TREE_PATH].startswith(tree_path + ",")]
    mask = np.zeros(document["voxels"].shape, dtype=bool)
    for segment in parts:
        mask |= slicerio.segment_mask(document, segment)
    voxels = document["voxels"].copy()
    voxels[mask] = parts[0]["labelValue"]
    merged = {**parts[0], "id": tree_path, "name": "Kidneys", "tags": {**parts[0]["tags"], TAG_TREE_PATH: tree_path}}
    segments = [s for s in document["segments"] if s not in parts] + [merged]
    slicerio.write_segmentation(str(target), {**document, "voxels": voxels, "segments": segments})
    return int(mask.sum())


def add_tagged_segment(source: Path, target: Path, tree_path: str, name: str) -> None:
    """``source`` with one more segment, tagged ``tree_path``, drawn on a block of empty voxels."""
    document = slicerio.read_segmentation(str(source))
    voxels = document["voxels"].copy()
    value = int(voxels.max()) + 1
    block = voxels[:4, :4, :4]
    block[block == 0] = value
    added = {**document["segments"][0], "id": name, "name": name, "labelValue": value,
             "tags": {**document["segments"][0]["tags"], TAG_TREE_PATH: tree_path}}
    slicerio.write_segmentation(str(target), {**document, "voxels": voxels,
                                              "segments": document["segments"] + [added]})
