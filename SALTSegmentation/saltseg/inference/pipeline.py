"""CT in, tree-labelled segmentation out: the whole engine behind one call.

``segment_image`` is what the CLI and the Slicer module run::

    model = load_model("path/to/model_dir", device="auto")
    result = segment_image(sitk.ReadImage("ct.nii.gz"), model)
    result.labelmap        # SimpleITK image on the input grid, SALT's label values
    result.label_table()   # value → tree path, name, colour

    result = segment_image(image, model, probabilities=["body,bones,spine"], confidence=True)
    result.probability_map("body,bones,spine")   # float32 0..1 on the input grid
    result.path_probabilities((60, 50, 15))       # spine 0.99, lumbar spine 0.97, L3 0.55 vs L4 0.41
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
import torch

from ..analysis.subsets import resolve_structure, resolve_structures, restrict_labelmap, subset_nodes
from ..io.image_io import check_ct_image
from ..tree.label_table import LabelEntry, label_table
from ..tree.labeltree import LabelTree, NodeRef
from .memory import check_memory, estimate_memory
from .node_probabilities import NodeMapRequest, ProbabilityMaps, probability_maps
from ..model.model_io import SaltModel
from ..model.run_defaults import chosen_or_model_placement
from .postprocess import keep_largest_component, map_to_input_grid, node_mask
from .preprocess import Grid, normalise_intensity, prepare_volume, reorient, resampled_size
from .window_network import window_predictor
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from .options import SegmentOptions
from .sliding_window import WindowSettings, effective_batch_size, sliding_window_outputs
from .voxel_probabilities import SURE, VoxelPath, VoxelProbe, voxel_path

logger = logging.getLogger(__name__)

STAGES = ("preprocessing", "inference", "postprocessing")


@dataclass
class SegmentationResult:
    labelmap: sitk.Image  # on the input image's grid; values are SALT's leaf label values
    tree: LabelTree
    model_id: str = ""
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: Window counts (``windows``, ``windows_run``, ``windows_skipped``) and the network path used.
    stats: dict = field(default_factory=dict)
    #: The subtrees kept (node indices) when a structure subset was asked for; None: every structure.
    subset: Optional[list[int]] = None
    #: The probability maps asked for (``probabilities``, ``confidence``), on the processing grid.
    probabilities: Optional[ProbabilityMaps] = field(default=None, repr=False)
    #: Recomputes a voxel's node probabilities (:meth:`path_probabilities`); holds the image and model.
    probe: Optional[VoxelProbe] = field(default=None, repr=False)

    def statistics_nodes(self) -> Optional[list[int]]:
        """Nodes a statistics table of this result lists: the kept subtrees' nodes (None: all)."""
        return None if self.subset is None else subset_nodes(self.tree, self.subset)

    @property
    def present_values(self) -> list[int]:
        values = np.unique(sitk.GetArrayViewFromImage(self.labelmap))
        background = self.tree.background_value
        return [int(v) for v in values if v != background]

    def label_table(self) -> list[LabelEntry]:
        """Entries of the structures present in this result."""
        return label_table(self.tree, self.present_values)

    def node_mask(self, node: NodeRef) -> sitk.Image:
        """Union of all leaves under ``node`` (e.g. ``"body,bones,spine"``) as a 0/1 image."""
        array = sitk.GetArrayViewFromImage(self.labelmap)
        mask = sitk.GetImageFromArray(node_mask(array, self.tree.subtree_label_values(node)).astype(np.uint8))
        mask.CopyInformation(self.labelmap)
        return mask

    def probability_map(self, node: NodeRef) -> sitk.Image:
        """``P(node)`` (leaf or internal) on the input grid, float32 in [0, 1]: SALT's Gaussian-blended
        node channel, resampled linearly. Only for the nodes asked for (``probabilities=``)."""
        index = self.tree.index(node)
        if self.probabilities is None or index not in self.probabilities.nodes:
            raise KeyError(f"no probability map of {self.tree.node_id(index)!r} was computed; ask for it "
                           "with segment_image(..., probabilities=[...])")
        return self.probabilities.node_image(index)

    def confidence_map(self) -> sitk.Image:
        """The chosen leaf's probability (the winning path's product) on the input grid, float32."""
        if self.probabilities is None or not self.probabilities.confidence:
            raise KeyError("no confidence map was computed; ask for it with segment_image(..., confidence=True)")
        return self.probabilities.confidence_image()

    def path_probabilities(self, index: Sequence[int], sure: float = SURE) -> VoxelPath:
        """At input voxel ``index`` (i, j, k): the probability of each node on the path to the
        voxel's label, top down, and the strongest sibling at the first step whose conditional
        probability is below ``sure``. Re-runs only the windows covering the voxel (see
        :mod:`saltseg.inference.voxel_probabilities`); nothing is kept for it between calls."""
        if self.probe is None:
            raise KeyError("this result cannot recompute probabilities (it was not made by segment_image)")
        probabilities = self.probe.node_probabilities(index)
        leaf = self.tree.leaf_for_value(int(self.labelmap.GetPixel([int(i) for i in index])))
        return voxel_path(self.tree, index, probabilities, leaf, sure)


def _node_index(tree: LabelTree, node: NodeRef) -> int:
    """A node given by index, tree path or name (names resolved as ``--only`` resolves them)."""
    return resolve_structure(tree, node) if isinstance(node, str) else tree.index(node)


def air_threshold(options: SegmentOptions, config) -> float:
    """``options.air_threshold_hu`` in the network's normalised intensities."""
    value = np.array([options.air_threshold_hu], dtype=np.float32)
    return float(normalise_intensity(value, config.intensity)[0])


def segment_image(
    image: sitk.Image,
    model: SaltModel,
    options: Optional[SegmentOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    model_id: str = "",
    probabilities: Sequence[NodeRef] = (),
    confidence: bool = False,
) -> SegmentationResult:
    """Segment a CT image already in memory. Raises :class:`~saltseg.errors.SaltSegError`
    subclasses for bad input, :class:`~saltseg.errors.Cancelled` when ``cancel`` is set.

    ``probabilities``: tree nodes (paths, names or indices) whose probability maps to keep;
    ``confidence``: keep the chosen leaf's probability too. Each costs 2 bytes per processing voxel
    (:mod:`saltseg.inference.node_probabilities`); none asked for costs nothing."""
    options = options or SegmentOptions()
    report = ProgressReporter(progress, cancel)
    config = model.config
    tree = config.tree
    background = tree.background_value if tree.background_value is not None else 0
    timings: dict[str, float] = {}

    started = time.perf_counter()
    report("preprocessing", 0.0)
    check = check_ct_image(image)
    subset = resolve_structures(tree, options.only) if options.only else None  # fail early
    request = NodeMapRequest.for_tree(tree, [_node_index(tree, node) for node in probabilities], confidence)
    oriented = reorient(image)
    processing_shape = resampled_size(oriented.GetSize(), oriented.GetSpacing(), config.voxel_spacing)
    estimate = estimate_memory(int(np.prod(image.GetSize(), dtype=np.int64)), processing_shape,
                               config.roi_size, len(tree), len(tree.leaves),
                               effective_batch_size(options.batch_size, model.device), model.device,
                               maps=request.count)
    check_memory(estimate, model.device, options.host_memory_limit, options.device_memory_limit)
    logger.info("processing grid %s voxels at %s mm; estimated need %s", processing_shape,
                config.voxel_spacing, estimate.describe())
    report("preprocessing", 0.3)
    prepared = prepare_volume(oriented, config.voxel_spacing, config.intensity, already_oriented=True)
    del oriented
    report("preprocessing", 1.0)
    timings["preprocessing"] = time.perf_counter() - started

    started = time.perf_counter()
    placement = chosen_or_model_placement(options.window_placement, model.run_defaults)
    settings = WindowSettings(
        roi_size=config.roi_size, overlap=options.overlap, batch_size=options.batch_size,
        pad_value=config.background_intensity, mixed_precision=options.mixed_precision,
        placement=placement,
        skip_below=air_threshold(options, config) if options.skip_air else None,
    )
    leaves = torch.as_tensor(tree.leaves, dtype=torch.long)
    predictor = window_predictor(model, options)
    stats: dict = {"window_placement": placement}
    labels, maps = sliding_window_outputs(prepared.array, predictor, leaves, len(tree), settings,
                                          model.device, report, background, stats, request)
    stats.update(network=predictor.describe(), network_seconds=predictor.seconds, network_notes=predictor.notes,
                 precision=predictor.precision_summary())
    timings["inference"] = time.perf_counter() - started

    started = time.perf_counter()
    report("postprocessing", 0.0)
    if options.largest_component:
        labels = keep_largest_component(labels, background)
    report("postprocessing", 0.5)
    labelmap = map_to_input_grid(labels, prepared.grid, image, background)
    if subset is not None:
        labelmap = restrict_labelmap(labelmap, tree, subset)
    report("postprocessing", 1.0)
    timings["postprocessing"] = time.perf_counter() - started
    kept = None if maps is None else probability_maps(request, maps, prepared.grid, Grid.of(image),
                                                      tree.leaf_for_value(background))
    return SegmentationResult(labelmap, tree, model_id, check.warnings, timings, stats, subset, kept,
                              VoxelProbe(image, model, options, settings))

