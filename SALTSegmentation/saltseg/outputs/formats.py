"""The output formats of a segmentation, each declared once: its name, file suffixes, what it needs
(a DICOM source series, an optional library) and its writer.

Every front end takes its format choices from :data:`FORMATS` (``saltseg segment --format``,
``saltseg batch --format``), so a new format is one entry here plus its writer and its test.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import OutputError
from ..io.dicom_seg import DICOM_SEG_SUFFIX, require_highdicom, source_headers, write_dicom_seg
from ..io.rtstruct import RTSTRUCT_SUFFIX, check_series_references, require_rt_utils, write_rtstruct
from ..analysis.tables import write_text
from ..io.writers import LABELMAP_SUFFIXES, SEG_NRRD, node_mask_path, output_kind, write_node_mask, write_result

#: What a writer gets: the result, the output path, and what :meth:`OutputFormat.prepare` made of
#: the source series (None for formats that need none).
Writer = Callable[[Any, Path, Any], list[Path]]


@dataclass(frozen=True)
class OutputFormat:
    name: str
    #: File name endings it writes; the first is what a batch names its outputs.
    suffixes: tuple[str, ...]
    help: str
    write: Writer
    #: References the input's DICOM series (its study, series and every instance).
    needs_dicom_source: bool = False
    #: Checks that the optional library is installed (raises :class:`OutputError` with the pip command).
    require: Optional[Callable[[], Any]] = None
    #: Reads what the writer needs from the source series before any work, refusing what cannot be referenced.
    prepare: Optional[Callable[[Sequence[str], str], Any]] = None
    #: The files it may write beside the output, once the tree is known (checked against the inputs).
    beside: Optional[Callable[[Path, Any], list[Path]]] = None

    @property
    def suffix(self) -> str:
        return self.suffixes[0]

    def names(self, path: Path) -> bool:
        """``path`` ends with one of this format's suffixes."""
        name = path.name.lower()
        return any(name.endswith(suffix) for suffix in self.suffixes)


def _write_tree_file(result, path: Path, _source: Any) -> list[Path]:
    return write_result(result.labelmap, path, result.tree, result.model_id)


def _write_dicom_seg(result, path: Path, headers: Any) -> list[Path]:
    return [write_dicom_seg(result.labelmap, result.tree, headers, path, result.model_id)]


def _write_rtstruct(result, path: Path, files: Any) -> list[Path]:
    return [write_rtstruct(result.labelmap, result.tree, files, path, result.model_id)]


def _write_node_masks(result, path: Path, _source: Any) -> list[Path]:
    """One NIfTI mask per tree node present (leaves and the groups above them) beside ``path``,
    and ``path`` itself: the index of node → mask file, written last so that it never names a
    missing mask."""
    tree = result.tree
    present = {tree.leaf_for_value(value) for value in result.present_values}
    nodes = sorted(present | {ancestor for leaf in present for ancestor in tree.ancestors(leaf)})
    written: list[Path] = []
    try:
        for node in nodes:
            written.append(write_node_mask(result.node_mask(node), path, tree.node_id(node)))
        index = {"format": "saltseg-node-masks", "version": 1, "model_id": result.model_id,
                 "masks": {tree.node_id(node): mask.name for node, mask in zip(nodes, written)}}
        return written + [write_text(path, json.dumps(index, indent=1))]
    except BaseException:
        for mask in written:  # none of a failed write is left to pass for a result
            mask.unlink(missing_ok=True)
        raise


def _node_mask_paths(path: Path, tree: Any) -> list[Path]:
    return [node_mask_path(path, tree.node_id(node)) for node in range(len(tree)) if node != tree.background_leaf]


def _referencable_files(files: Sequence[str], where: str) -> Sequence[str]:
    check_series_references(files)
    return files


FORMATS: dict[str, OutputFormat] = {fmt.name: fmt for fmt in (
    OutputFormat("seg.nrrd", (SEG_NRRD,), "Slicer segmentation: one segment per structure with its tree "
                 "path, name and colour; the tree in the header", _write_tree_file),
    OutputFormat("labelmap", LABELMAP_SUFFIXES, "labelmap of SALT's own label values, with <name>.labels.json "
                 "beside it (value → tree path, name, colour)", _write_tree_file),
    OutputFormat("dicom-seg", (DICOM_SEG_SUFFIX, ".dcm"), "DICOM Segmentation referencing the input DICOM series "
                 "(needs saltseg[dicom-seg])", _write_dicom_seg, needs_dicom_source=True, require=require_highdicom,
                 prepare=source_headers),
    OutputFormat("rtstruct", (RTSTRUCT_SUFFIX, ".dcm"), "DICOM RT Structure Set referencing the input DICOM series "
                 "(needs saltseg[rtstruct])", _write_rtstruct, needs_dicom_source=True, require=require_rt_utils,
                 prepare=_referencable_files),
    OutputFormat("nifti-masks", (".masks.json",), "one NIfTI mask per tree node present (<name>.<node>.nii.gz) and "
                 "an index of them", _write_node_masks, beside=_node_mask_paths),
)}
#: Earlier names still taken on the command line.
ALIASES = {"nii.gz": "labelmap"}


def format_named(name: str) -> OutputFormat:
    fmt = FORMATS.get(ALIASES.get(name, name))
    if fmt is None:
        raise OutputError(f"unknown output format {name!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def format_of(path: Path, name: str = "auto") -> OutputFormat:
    """The format ``name`` asks for (``auto``: the one ``path``'s ending names), checked against
    the path's ending, so a file never carries another format's name."""
    if name == "auto":
        for fmt in (FORMATS["dicom-seg"], FORMATS["rtstruct"], FORMATS["nifti-masks"]):
            if path.name.lower().endswith(fmt.suffix):
                return fmt
        if path.name.lower().endswith(".dcm"):
            raise OutputError(f"cannot tell which DICOM object {path.name} is: name it *{DICOM_SEG_SUFFIX} (DICOM "
                              f"SEG) or *{RTSTRUCT_SUFFIX} (RT Structure Set), or give --format")
        return FORMATS[output_kind(path)]  # its message lists the image formats
    fmt = format_named(name)
    if not fmt.names(path) or (fmt.name == "labelmap" and FORMATS["seg.nrrd"].names(path)):
        raise OutputError(f"--format {fmt.name}: name the output *{fmt.suffix}, not {path.name}")
    return fmt


def format_choices() -> list[str]:
    return [*FORMATS, *ALIASES]
