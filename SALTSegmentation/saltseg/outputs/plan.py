"""Everything one segmentation writes, planned and checked before any work, then written as a whole.

An :class:`OutputPlan` is the main output in one of the :mod:`.formats` plus the extras a run may
ask for (node masks, probability maps, a PNG preview, a statistics table). Front ends build one and
call, in order:

1. :meth:`OutputPlan.check_early` — before the model loads: formats, the optional library, the
   DICOM source a format references, outputs that would overwrite an input, output folders;
2. :meth:`OutputPlan.check` — once the model's tree and the image size are known: mask and
   probability-map nodes and every file the run will write (room for it included), the one
   pre-flight of issue 19's checks;
3. :meth:`OutputPlan.write` — after segmenting: every file, or none (a failure removes the ones
   already written, so a failed run leaves no part of a result that could pass for a whole one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..analysis.statistics import UNCERTAIN_BELOW, labelmap_statistics
from ..analysis.subsets import resolve_structure
from ..analysis.tables import check_table_path, write_statistics
from ..atomic import remove_stale_parts
from ..errors import OutputError, TreeError, WriteFailedError
from ..io.detached_files import is_detached_header, named_data_files
from ..io.output_check import check_output_locations, refuse_outputs_on_inputs
from ..io.preview import write_preview
from ..io.writers import label_table_path, node_mask_path, write_node_mask
from ..tree.labeltree import LabelTree
from .formats import OutputFormat, format_of
from .probability_maps import check_dtype, confidence_map_path, probability_map_path, write_probability_map


@dataclass
class DicomSource:
    """The DICOM series a format references: its files (in slice order) and, once prepared, what
    the format's writer reads from them."""

    files: Sequence[str]
    where: str
    prepared: Any = None


@dataclass
class OutputPlan:
    #: The main output and its format; None where a front end takes the labels itself and only
    #: extras are written (the Slicer module's statistics table, say).
    output: Optional[Path]
    format: Optional[OutputFormat]
    masks: tuple[str, ...] = ()
    preview: Optional[Path] = None
    statistics: Optional[Path] = None
    source: Optional[DicomSource] = field(default=None, repr=False)
    #: Tree nodes whose probability maps are written beside ``maps_base`` (:mod:`.probability_maps`).
    probabilities: tuple[str, ...] = ()
    probabilities_dtype: str = "uint8"
    confidence: bool = False
    #: The statistics' ``uncertain_ml``: chosen-leaf probability below this.
    uncertain_below: float = UNCERTAIN_BELOW
    #: What the maps are named after: the output, else the front end's labelmap.
    maps_base: Optional[Path] = None

    @classmethod
    def of(cls, output: Optional[Path], format_name: str = "auto", masks: Sequence[str] = (),
           preview: Optional[Path] = None, statistics: Optional[Path] = None, *,
           probabilities: Sequence[str] = (), probabilities_dtype: str = "uint8", confidence: bool = False,
           uncertain_below: float = UNCERTAIN_BELOW, labelmap: Optional[Path] = None) -> "OutputPlan":
        """The plan, its names checked (format against the output's ending, ``.png``, ``.csv``/``.json``)."""
        output = Path(output) if output is not None else None
        fmt = format_of(output, format_name) if output is not None else None
        if output is None and masks:
            raise OutputError("masks are named after the output: give an output")
        maps_base = output if output is not None else (Path(labelmap) if labelmap is not None else None)
        if maps_base is None and (probabilities or confidence):
            raise OutputError("probability maps are named after the output: give an output")
        if preview is not None and Path(preview).suffix.lower() != ".png":
            raise OutputError(f"--preview must name a .png file, got {Path(preview).name}")
        if statistics is not None:
            check_table_path(statistics, "--statistics")
        return cls(output, fmt, tuple(masks), preview, statistics, probabilities=tuple(probabilities),
                   probabilities_dtype=check_dtype(probabilities_dtype), confidence=confidence,
                   uncertain_below=uncertain_below, maps_base=maps_base)

    def probability_nodes(self, tree: LabelTree) -> list[int]:
        """The nodes of the requested maps (by tree path or name; a name no node has is an
        :class:`OutputError` suggesting close ones), in request order, without repeats."""
        nodes: list[int] = []
        for name in self.probabilities:
            try:
                node = resolve_structure(tree, name)
            except TreeError as error:
                raise OutputError(f"--probabilities {name!r}: {error}") from None
            if node not in nodes:
                nodes.append(node)
        return nodes

    def probability_paths(self, tree: LabelTree) -> dict[str, Path]:
        """Tree path → map file, for every requested node."""
        if self.maps_base is None:
            return {}
        return {tree.node_id(node): probability_map_path(self.maps_base, tree.node_id(node), self.probabilities_dtype)
                for node in self.probability_nodes(tree)}

    @property
    def confidence_path(self) -> Optional[Path]:
        if not self.confidence or self.maps_base is None:
            return None
        return confidence_map_path(self.maps_base, self.probabilities_dtype)

    def files(self, tree: Optional[LabelTree] = None) -> list[Path]:
        """Every file the run writes (node-named files need the tree: without it, the others)."""
        files = [] if self.output is None else [self.output]
        if self.output is not None and self.format is not None and self.format.name == "labelmap":
            files.append(label_table_path(self.output))
        if tree is not None and self.output is not None:
            files += [node_mask_path(self.output, tree.node_id(node)) for node in self.masks]
        if tree is not None:
            files += list(self.probability_paths(tree).values())
        if self.confidence_path is not None:
            files.append(self.confidence_path)
        return files + [path for path in (self.preview, self.statistics) if path is not None]

    def check_early(self, inputs: Sequence[Path], source: Optional[DicomSource] = None) -> None:
        """What needs neither the model nor the image: the format's library and source, and the
        locations of the outputs known by name."""
        self.prepare_source(inputs[0] if inputs else "the input", source)
        refuse_outputs_on_inputs(self.files(), list(inputs))
        check_output_locations(self.files())

    def prepare_source(self, input_label: object, source: Optional[DicomSource]) -> None:
        """The format's library is installed and, for a format that references the input's DICOM
        series, that series can be referenced (read before any work)."""
        if self.format is None:
            return
        if self.format.require is not None:
            self.format.require()
        if not self.format.needs_dicom_source:
            return
        if source is None:
            raise OutputError(f"{input_label} is not a DICOM series folder: {self.format.name} output references "
                              "the DICOM series it was made from; write .seg.nrrd or a labelmap for image files")
        if self.format.prepare is not None:
            source.prepared = self.format.prepare(source.files, source.where)
        self.source = source

    def check(self, tree: LabelTree, inputs: Sequence[Path], voxels: int) -> list[Path]:
        """The pre-flight over every file, once the tree and the image size are known; returns the
        outputs that already exist (to be replaced)."""
        for node in self.masks:
            try:
                tree.index(node)
            except KeyError:
                raise OutputError(f"--mask {node!r}: no such node in the model's label tree") from None
        self.probability_nodes(tree)
        beside = (self.format.beside(self.output, tree)
                  if self.format is not None and self.format.beside is not None and self.output is not None else [])
        refuse_outputs_on_inputs(self.files(tree) + beside, list(inputs))
        return check_output_locations(self.files(tree), voxels=voxels)

    def remove_stale_parts(self, before: float) -> None:
        """Remove the temporary files that writers of this plan's files, killed while writing,
        left before the time stamp ``before`` (the caller knows no live process writes them)."""
        named = [probability_map_path(self.maps_base, name, self.probabilities_dtype)
                 for name in self.probabilities] if self.maps_base is not None else []  # by tree path (a batch's)
        for path in self.files() + named:
            remove_stale_parts(path, before=before)

    def write(self, result, image, input_label: str = "") -> list[Path]:
        """Write every planned file; a failure (disk full, Ctrl-C) removes those already written."""
        written: list[Path] = []
        try:
            if self.format is not None and self.output is not None:
                written += self.format.write(result, self.output, self.source.prepared if self.source else None)
                for node in self.masks:  # (masks are named after the output: none without one)
                    written.append(write_node_mask(result.node_mask(node), self.output, result.tree.node_id(node)))
            for node_id, path in self.probability_paths(result.tree).items():
                written.append(write_probability_map(result.probability_map(node_id), path,
                                                     self.probabilities_dtype, node_id))
            confidence = result.confidence_map() if self.confidence else None
            if confidence is not None and self.confidence_path is not None:
                written.append(write_probability_map(confidence, self.confidence_path, self.probabilities_dtype,
                                                     "confidence (the chosen leaf's probability)"))
            if self.preview is not None:
                written.append(write_preview(image, result.labelmap, result.tree, self.preview))
            if self.statistics is not None:
                rows = labelmap_statistics(result.labelmap, image, result.tree, result.statistics_nodes(),
                                           confidence=confidence, uncertain_below=self.uncertain_below)
                written.append(write_statistics(rows, self.statistics, input=input_label, model=result.model_id))
        except BaseException as error:
            remove_outputs(written)
            if isinstance(error, WriteFailedError) and written:
                raise WriteFailedError(f"cannot write {error.target}: {error.reason}; removed "
                                       f"{', '.join(path.name for path in written)}, written before it, so nothing "
                                       "was written", error.target, error.reason, error.errno) from error
            raise
        return written


def remove_outputs(paths: Sequence[Path]) -> None:
    """Remove written outputs (with the data files their headers name)."""
    for path in paths:
        for data_file in named_data_files(path) if is_detached_header(path) else []:
            data_file.unlink(missing_ok=True)
        Path(path).unlink(missing_ok=True)
