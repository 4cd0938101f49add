"""SALT's own tree tags: the tree path that a segmentation written by this project states for each
structure. A tag is read exactly and comes before any name scheme or code, which only guess.

Where this project's writers put the path:

* a ``.seg.nrrd`` segment's ``SALT.TreePath`` tag; a segment without one (tags lost on the way)
  whose ID is a node of the tree stored in the file's header;
* a DICOM SEG segment's Tracking ID, with the Segment Description ``SALT tree path: <the same path>``;
* a labelmap's ``<name>.labels.json`` label table (each value's tree path).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Mapping, Optional

from ..errors import MappingError
from ..io.writers import DICOM_TREE_PATH_DESCRIPTION, TAG_TREE_PATH
from ..tree.label_table import LABEL_TABLE_FORMAT
from ..tree.labeltree import LabelTree, NodePath
from .extended_tree import organised_tree
from .schemes import parse_tree_path

logger = logging.getLogger(__name__)


def seg_nrrd_segment_path(segment: Mapping, stored: Optional[LabelTree], source: str) -> Optional[NodePath]:
    """The tree path a ``.seg.nrrd`` segment (slicerio's form) carries, or None."""
    tag = (segment.get("tags") or {}).get(TAG_TREE_PATH)
    name = segment.get("name") or segment.get("id")
    if tag:
        return parse_tree_path(tag, f"{source}: segment {name!r}: its {TAG_TREE_PATH} tag")
    segment_id = str(segment.get("id") or "")
    if stored is not None and "," in segment_id:
        try:
            return stored.path(segment_id)  # this project's writer names each segment by its path
        except KeyError:
            return None
    return None


def dicom_seg_segment_path(item, source: str) -> Optional[NodePath]:
    """The tree path of a DICOM SEG segment item: its Tracking ID where this project wrote it (the
    description repeats the path), else a Tracking ID that is a node of the organised tree."""
    tracking_id = str(item.get("TrackingID", "") or "").strip()
    if not tracking_id:
        return None
    description = str(item.get("SegmentDescription", "") or "")
    if description == DICOM_TREE_PATH_DESCRIPTION + tracking_id:
        return parse_tree_path(tracking_id, f"{source}: segment {item.get('SegmentNumber', '?')}: its Tracking ID")
    if "," not in tracking_id:
        return None
    path = tuple(part.strip() for part in tracking_id.split(","))
    try:
        organised_tree().index(path)
    except KeyError:
        return None
    return path


def label_table_structures(path: Path) -> Optional[tuple[dict[int, str], dict[int, NodePath], str]]:
    """(value → name, value → tree path, the model id it names or "") of a ``.labels.json`` this
    project wrote; None for any other name table."""
    if path.suffix.lower() != ".json":
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the name-table reader says what is wrong with it
    if not isinstance(document, dict) or document.get("format") != LABEL_TABLE_FORMAT:
        return None
    names: dict[int, str] = {}
    paths: dict[int, NodePath] = {}
    for entry in document.get("labels") or []:
        try:
            value = int(entry["value"])
            text = entry["node_id"]
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{path}: a label entry without an integer 'value' and a 'node_id': {entry!r}") from None
        if value == 0:
            continue  # the background of every labelmap organised here
        paths[value] = parse_tree_path(text, f"{path}: label value {value}")
        names[value] = str(entry.get("name") or text)
    if not paths:
        raise MappingError(f"label table {path} names no label value")
    logger.info("tree paths from %s", path)
    return names, paths, str(document.get("model_id") or "")
