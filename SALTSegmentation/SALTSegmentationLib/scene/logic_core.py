"""The module logic without Slicer's application or Qt: what ``SALTSegmentationLogic`` does.

``segment()`` writes the volume to a temporary file on the main thread and hands it to the engine
process (:mod:`.engine_session`: Slicer's own Python running ``saltseg.service``; this process
never imports torch). The engine's labelmap is imported on the main thread. A node created for
the run is removed again if the run fails, is cancelled, or the scene is closed meanwhile; a node
the caller passed is only touched once the result is complete.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from ..processes.process_runner import ProcessRunner, SubprocessRunner

if TYPE_CHECKING:
    from ..processes.engine_job import EngineJob, ProgressCallback

# Slicer executes SALTSegmentation.py, which subclasses SegmentationLogicCore, at every start-up:
# this file imports nothing heavy (no SimpleITK, numpy, saltseg) until the logic is used.

logger = logging.getLogger(__name__)

ModelSpec = Union[None, str, Path]  # registry id or model folder
SCENE_CLOSED = "The scene was closed during the segmentation; nothing was imported."


def _subtrees():
    from . import subtrees  # numpy, saltseg: loaded when the tree is first used

    return subtrees


class SegmentationLogicCore:
    def __init__(self, process_events: Optional[Callable[[], None]] = None,
                 runner_factory: Callable[[], ProcessRunner] = SubprocessRunner,
                 idle_timeout: Optional[float] = None) -> None:
        from ..processes.engine_session import DEFAULT_IDLE_TIMEOUT, EngineSession

        #: Called while a blocking ``segment`` waits (Slicer: ``slicer.app.processEvents``).
        self.processEvents = process_events
        #: The engine process, kept warm for ``idle_timeout`` seconds after a run.
        self.engine = EngineSession(runner_factory, DEFAULT_IDLE_TIMEOUT if idle_timeout is None else idle_timeout)
        self.currentJob: Optional[EngineJob] = None
        self._mapOwnerWatch: Any = None  # removes probability maps with their segmentation
        self._probabilityOverlay: Any = None  # the heat map in the slice views (console and panel alike)
        #: Models folder overriding SALTSEG_HOME / the default (Slicer: the module's setting).
        self.modelsHome: Optional[str] = None
        #: Where the module's server and its token are kept (None: Slicer's QSettings when there are).
        self.settingsStore: Any = None

    @property
    def engineIdleTimeout(self) -> float:
        return self.engine.idle_timeout

    @engineIdleTimeout.setter
    def engineIdleTimeout(self, seconds: float) -> None:
        """Seconds the engine stays loaded after a run (0: until the module is closed); applies
        from the next engine start."""
        self.engine.idle_timeout = float(seconds)

    # ------------------------------------------------------------------ segmenting
    def segment(self, volumeNode, segmentationNode=None, model: ModelSpec = None, device: str = "auto",
                wait: bool = True, progress: Optional["ProgressCallback"] = None, options: Any = None,
                onFinished: Optional[Callable[["EngineJob"], None]] = None,
                structures: Optional[Sequence[str]] = None, outputs: Optional[dict] = None,
                server: Any = None, token: Optional[str] = None, probabilities: Optional[Sequence[str]] = None,
                confidence: bool = False):
        """Segment ``volumeNode`` into ``segmentationNode`` (a new one named after the volume if
        None). Blocks by default; with ``wait=False`` returns at once and the result appears when
        the job finishes (``self.currentJob``; ``onFinished(job)`` is then called). ``model=None``:
        the model the volume names (the phantom sample: the bundled demo model), else the default.
        ``structures``: keep only these subtrees (tree paths or names, e.g. ``["kidneys", "spine"]``);
        the network still runs over the whole scan, but fewer segments are imported. ``outputs``:
        files the engine writes too, by the names of a job (those of ``saltseg segment``): ``output``
        (with ``format``), ``masks``, ``preview``, ``statistics``, e.g. ``{"output": "ct.seg.nrrd",
        "statistics": "ct.csv"}``; they are checked before any work, and a failed run leaves none of them
        (files it finished before a Cancel stay). ``server``: run on a SALT
        server (``saltseg serve``) instead of this computer — its address (``"https://gpu:8765"``, with
        ``token``, or the token saved in the module for that very address), ``True`` (the server saved
        in the module) or the request's ``{"url", "token"}``; the result is imported as from a local run.
        ``confidence=True``: also the confidence map (the model's probability of its choice per
        voxel), ``probabilities``: maps of these tree nodes (paths or names, e.g. ``["spine"]``); they
        become scalar volumes of the segmentation (:meth:`probabilityMaps`, :meth:`showProbability`)."""
        from saltseg.errors import Cancelled
        from saltseg.inference.options import SegmentOptions
        from saltseg.job.description import SegmentJob

        from ..processes.engine_job import EngineJob, EngineResult
        from .importer import import_result
        from .segment_arguments import engine_options, job_outputs, model_argument, probability_fields, request_server
        from .probability_maps import read_maps, replace_maps
        from .mrml_helpers import ensure_converter_rules, remove_node_with_dependents, sitk_from_volume
        from .sample_data import suggested_model
        if self.currentJob is not None and not self.currentJob.finished:
            raise RuntimeError("a segmentation is already running; cancel it first")
        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError("select a CT volume with image data")
        if model is None:  # a volume may name its model (the phantom sample: the demo model)
            model = suggested_model(volumeNode)
        server = request_server(server, token, self.settingsStore)
        run_options = engine_options(options)
        if structures:
            run_options["only"] = [structures] if isinstance(structures, str) else [str(s) for s in structures]
        # Checked here, before the engine starts: the engine's own job description and rules.
        # On a server, where models live and which device computes are the server's to say.
        job_fields = dict(model=model_argument(model), home=None if server else self.modelsHome,
                          device="auto" if server else device or "auto",
                          options=SegmentOptions.from_mapping(run_options), **job_outputs(outputs),
                          **probability_fields(probabilities, confidence))
        SegmentJob(input=Path("input.nrrd"), labelmap=Path("result.nrrd"), **job_fields)
        scene = volumeNode.GetScene()
        ensure_converter_rules()
        temp_dir = Path(tempfile.mkdtemp(prefix="SALTSegmentation-"))
        try:
            import SimpleITK as sitk

            job = SegmentJob(input=temp_dir / "input.nrrd", labelmap=temp_dir / "result.nrrd", **job_fields)
            request = job.to_request()
            if server:
                request["server"] = server  # the token: only here, on the engine's stdin
            sitk.WriteImage(sitk_from_volume(volumeNode), str(job.input), False)
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise

        created = segmentationNode is None
        if created:
            segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                       f"{volumeNode.GetName()} segmentation")
            segmentationNode.CreateDefaultDisplayNodes()
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        output = segmentationNode

        def on_success(result: "EngineResult") -> None:
            if output.GetScene() is not scene or volumeNode.GetScene() is not scene:
                raise Cancelled(SCENE_CLOSED)
            maps = read_maps(result.probability_maps, result.confidence_map, volumeNode)  # before any change
            import_result(result, output, volumeNode)
            self.hideProbability()  # it may show a map being replaced
            replace_maps(output, volumeNode, maps, result.tree)  # a run without maps drops the former ones
            self._mapWatch().watch(scene)

        def on_failure(error: BaseException) -> None:
            if created and output.GetScene() is not None:
                remove_node_with_dependents(output)
            logger.info("segmentation did not finish: %s", error)

        job = EngineJob(self.engine, request, temp_dir, progress, on_success, on_failure)
        job.on_finished = self._finisher(scene, job, onFinished)
        self.currentJob = job
        job.start()
        if wait:
            job.wait(process_events=self.processEvents)
            if job.error is not None:
                raise job.error
        return output

    def _finisher(self, scene, job: "EngineJob", onFinished):
        """Cancel the job when the scene closes; stop watching the scene once the job is done."""
        tag = scene.AddObserver(scene.StartCloseEvent, lambda caller, event: job.cancel(SCENE_CLOSED))

        def finished(finished_job: "EngineJob") -> None:
            scene.RemoveObserver(tag)
            if onFinished is not None:
                onFinished(finished_job)

        return finished

    def pollJob(self) -> bool:
        """Deliver the engine's pending events (for scripts without an event loop); True when done."""
        job = self.currentJob
        if job is None:
            return True
        return job.wait(timeout=0)

    def cancel(self, atOnce: bool = False) -> None:
        """Cancel the running segmentation: the engine stops after the window it computes and keeps
        its model (``atOnce``: the engine process is killed now)."""
        if self.currentJob is not None:
            self.currentJob.cancel(at_once=atOnce)

    def shutdownEngine(self) -> None:
        """Stop the engine process now (module closed); a running job is cancelled."""
        self.cancel(atOnce=True)
        self.engine.stop()

    # ------------------------------------------------------------------ the tree
    def labelTree(self, segmentationNode):
        """The :class:`saltseg.tree.labeltree.LabelTree` stored with the segmentation, or None."""
        from .tree_storage import load_tree

        return load_tree(segmentationNode)

    def subtreeSegmentIds(self, segmentationNode, path) -> list[str]:
        return _subtrees().subtree_segment_ids(segmentationNode, path)

    def setSubtreeVisibility(self, segmentationNode, path, visible: bool) -> list[str]:
        return _subtrees().set_subtree_visibility(segmentationNode, path, visible)

    def subtreeVisibility(self, segmentationNode, path) -> str:
        return _subtrees().subtree_visibility(segmentationNode, path)

    def showOnlySubtree(self, segmentationNode, path) -> None:
        _subtrees().show_only_subtree(segmentationNode, path)

    def mergeSubtree(self, segmentationNode, path, removeMerged: bool = True) -> str:
        return _subtrees().merge_subtree(segmentationNode, path, remove_merged=removeMerged)

    def treePanelModel(self, segmentationNode, volumeNode=None):
        return _subtrees().tree_panel_model(segmentationNode, volumeNode)

    # ------------------------------------------------------------------ probability maps
    def _mapWatch(self):
        from .probability_maps import MapOwnerWatch

        self._mapOwnerWatch = self._mapOwnerWatch or MapOwnerWatch()
        return self._mapOwnerWatch

    @property
    def probabilityOverlay(self):
        """The :class:`.probability_overlay.ProbabilityOverlay` of the slice views."""
        from .probability_overlay import ProbabilityOverlay

        self._probabilityOverlay = self._probabilityOverlay or ProbabilityOverlay()
        return self._probabilityOverlay

    def probabilityMaps(self, segmentationNode) -> dict:
        """The segmentation's probability maps as scalar volumes: ``{"confidence": node, tree path:
        node, ...}`` (uint8: value/255 is the probability); empty when the run made none."""
        from .probability_maps import maps_by_name

        return maps_by_name(segmentationNode)

    def showProbability(self, segmentationNode, node) -> str:
        """Show a tree node's probability (path or name) as a heat map in the slice views: its own
        map, or the confidence inside it; returns which ("probability" or "confidence"), "" when
        the segmentation has no maps. :meth:`hideProbability` gives the views back."""
        from .probability_maps import resolve_node_id

        return self.probabilityOverlay.show(segmentationNode, resolve_node_id(segmentationNode, node))

    def followProbabilityEdits(self, segmentationNode, slices=None) -> str:
        """After segments were edited: a heat map of the confidence inside a structure follows them,
        recomputed in ``slices`` (the confidence map's k indices that changed; None: all). Returns
        what the heat map shows afterwards ("probability", "confidence", "" for nothing)."""
        if self._probabilityOverlay is None:
            return ""
        return self._probabilityOverlay.follow_edits(segmentationNode, slices)

    def hideProbability(self) -> None:
        if self._probabilityOverlay is not None:
            self._probabilityOverlay.clear()

    def showUncertainVoxels(self, segmentationNode, node):
        """Add the segment "uncertain: <node>": the node's voxels whose confidence is below the
        engine's threshold (0.5); returns its :class:`.uncertain_voxels.UncertainRegion`."""
        from .probability_maps import resolve_node_id
        from .uncertain_voxels import add_uncertain_segment

        return add_uncertain_segment(segmentationNode, resolve_node_id(segmentationNode, node))

    # ------------------------------------------------------------------ numbers
    def statistics(self, segmentationNode, volumeNode=None) -> list:
        """Every tree node's voxels, volume (mL) and ``volumeNode``'s intensity statistics (mean,
        std, median, min, max, 5th/95th percentile HU) as
        :class:`saltseg.analysis.statistics.NodeStatistics` rows; internal nodes are the union of
        their subtree; ``volumeNode`` defaults to the volume the segmentation was made on.
        ``[row.to_dict() for row in rows]`` gives plain dicts."""
        from .statistics_table import segmentation_statistics

        return segmentation_statistics(segmentationNode, volumeNode)

    def exportStatisticsTable(self, segmentationNode, volumeNode=None, csvPath: Optional[str] = None):
        """The statistics as a vtkMRMLTableNode (updated in place if this segmentation has one
        already), optionally also written to ``csvPath`` (.csv or .json). Returns the table node."""
        from .statistics_table import ATTRIBUTE_SOURCE, statistics_table_node, write_statistics_csv

        rows = self.statistics(segmentationNode, volumeNode)
        scene = segmentationNode.GetScene()
        tables = scene.GetNodesByClass("vtkMRMLTableNode")
        existing = next((tables.GetItemAsObject(i) for i in range(tables.GetNumberOfItems())
                         if tables.GetItemAsObject(i).GetAttribute(ATTRIBUTE_SOURCE) == segmentationNode.GetID()),
                        None)
        table = statistics_table_node(rows, scene, f"{segmentationNode.GetName()} statistics", existing,
                                      source=segmentationNode)
        if csvPath:
            write_statistics_csv(rows, csvPath)
        return table

    def organize(self, segmentationNode, scheme="auto"):
        """Show any segmentation as the label tree (TotalSegmentator, CADS, SNOMED-coded, ...):
        its segments are tagged with tree paths, keeping their IDs, names and colours. ``scheme``:
        auto, totalsegmentator, cads, salt, snomed or a mapping file. Returns the placement
        (``.scheme``, ``.matched``, ``.unmapped``, ``.summary()``)."""
        from .organize import organize_segmentation

        return organize_segmentation(segmentationNode, scheme)
