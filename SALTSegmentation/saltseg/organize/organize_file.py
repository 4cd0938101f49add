"""``saltseg organize``: an existing segmentation file → a ``.seg.nrrd`` (or labelmap) in the tree."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

from ..io.writers import check_output_path, write_result
from .inputs import read_structures
from .labelmap import OrganisedLabelmap, organise_labelmap
from .mapping import MODEL_ID_PREFIX

logger = logging.getLogger(__name__)


def organise_input(path: Union[str, Path], scheme: str = "auto", labels: Optional[Union[str, Path]] = None,
                   task: Optional[str] = None) -> OrganisedLabelmap:
    """Read ``path`` and place its structures in the tree (nothing written)."""
    structures = read_structures(path, labels=labels, scheme=str(scheme), task=task)
    if str(scheme) == "auto" and structures.scheme is not None:
        scheme = structures.scheme  # the labels were named by that scheme's own value map
    return organise_labelmap(structures.labelmap, structures.names, scheme, structures.codes, structures.paths,
                             structures.model_ids)


def organise_file(path: Union[str, Path], output: Union[str, Path], scheme: str = "auto",
                  labels: Optional[Union[str, Path]] = None, task: Optional[str] = None) -> OrganisedLabelmap:
    """Organise ``path`` and write the result as the engine writes its own (``.seg.nrrd`` or a
    labelmap with ``.labels.json``); the output appears only complete."""
    check_output_path(output)
    result = organise_input(path, scheme, labels, task)
    model_id, segment_model_ids = result.written_model_ids(MODEL_ID_PREFIX + result.placement.scheme)
    write_result(result.labelmap, output, result.tree, model_id, segment_model_ids)
    return result
