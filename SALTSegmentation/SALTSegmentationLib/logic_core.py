"""The module logic without Slicer's application or Qt: what ``SALTSegmentationLogic`` does.

``segment()`` reads the volume on the main thread, runs model loading and ``segment_image`` in a
:class:`~.worker.SegmentationJob`, and imports the result on the main thread. A node it created
for the run is removed again if the run fails or is cancelled; a node the caller passed is only
touched once the result is complete.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Union

from saltseg.errors import ModelError

from . import subtrees
from .importer import import_result
from .mrml_helpers import ensure_converter_rules, remove_node_with_dependents, sitk_from_volume
from .sample_data import SUGGESTED_MODEL_ATTRIBUTE
from .tree_storage import load_tree
from .worker import ProgressCallback, SegmentationJob

logger = logging.getLogger(__name__)

ModelSpec = Union[None, str, Path, Any]  # registry id, model folder, or a loaded SaltModel


def resolve_model(model: ModelSpec, home: Optional[str] = None) -> tuple[Any, str]:
    """(model folder or loaded SaltModel, model id) for a model argument; ``home`` overrides the
    registry's models folder (the module's setting)."""
    if model is not None and not isinstance(model, (str, Path)):
        return model, getattr(model, "model_id", "") or "model"
    if model is not None and Path(model).is_dir():
        return Path(model), Path(model).name
    try:
        from saltseg import models as registry  # the model registry may not be installed
    except ImportError as error:
        raise ModelError(f"model {model!r} is not a model folder, and the model registry is not available; "
                         "pass model='path/to/model_folder'") from error
    folder = registry.resolve_model_dir(None if model is None else str(model), home=home)
    return Path(folder), str(model or registry.DEFAULT_MODEL_ID)


class SegmentationLogicCore:
    def __init__(self, process_events: Optional[Callable[[], None]] = None,
                 schedule_polling: Optional[Callable[[SegmentationJob], None]] = None) -> None:
        #: Called while a blocking ``segment`` waits (Slicer: ``slicer.app.processEvents``).
        self.processEvents = process_events
        #: Arranges ``job.poll()`` on the main thread for ``wait=False`` (Slicer: a QTimer).
        self.schedulePolling = schedule_polling
        self.currentJob: Optional[SegmentationJob] = None
        #: Models folder overriding SALTSEG_HOME / the default (Slicer: the module's setting).
        self.modelsHome: Optional[str] = None
        self._models: dict[tuple[str, str], Any] = {}
        self._models_lock = threading.Lock()

    # ------------------------------------------------------------------ models
    def loadModel(self, model_dir: Path, device: str = "auto") -> Any:
        """Load (once per folder and device) the model; safe to call from the worker thread."""
        from saltseg.model.model_io import load_model

        key = (str(Path(model_dir).resolve()), str(device))
        with self._models_lock:
            if key not in self._models:
                self._models[key] = load_model(model_dir, device=device)
            return self._models[key]

    # ------------------------------------------------------------------ segmenting
    def segment(self, volumeNode, segmentationNode=None, model: ModelSpec = None, device: str = "auto",
                wait: bool = True, progress: Optional[ProgressCallback] = None, options: Any = None,
                onFinished: Optional[Callable[[SegmentationJob], None]] = None):
        """Segment ``volumeNode`` into ``segmentationNode`` (a new one named after the volume if
        None). Blocks by default; with ``wait=False`` returns at once and the result appears when
        the job finishes (``self.currentJob``; ``onFinished(job)`` is then called). ``model=None``:
        the model the volume names (the phantom sample: the bundled demo model), else the default."""
        if self.currentJob is not None and not self.currentJob.finished:
            raise RuntimeError("a segmentation is already running; cancel it first")
        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError("select a CT volume with image data")
        scene = volumeNode.GetScene()
        ensure_converter_rules()
        image = sitk_from_volume(volumeNode)  # read on the main thread; the worker gets a copy
        if model is None:  # a volume may name its model (the phantom sample: the demo model)
            model = volumeNode.GetAttribute(SUGGESTED_MODEL_ATTRIBUTE) or None
        model_source, model_id = resolve_model(model, self.modelsHome)

        created = segmentationNode is None
        if created:
            segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                       f"{volumeNode.GetName()} segmentation")
            segmentationNode.CreateDefaultDisplayNodes()
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        output = segmentationNode

        def compute(report: ProgressCallback, cancel) -> Any:
            from saltseg.inference.pipeline import segment_image

            report("loading model", 0.0)
            loaded = model_source if not isinstance(model_source, Path) else self.loadModel(model_source, device)
            cancel.raise_if_cancelled()
            return segment_image(image, loaded, options, report, cancel, model_id=model_id)

        def on_success(result) -> None:
            import_result(result, output, volumeNode)

        def on_failure(error: BaseException) -> None:
            if created:
                remove_node_with_dependents(output)
            logger.info("segmentation did not finish: %s", error)

        job = SegmentationJob(compute, progress, on_success, on_failure)
        self.currentJob = job
        if onFinished is not None:
            job.on_finished = onFinished
        job.start()
        if wait:
            job.wait(process_events=self.processEvents)
            self._finish(job)
            if job.error is not None:
                raise job.error
        elif self.schedulePolling is not None:
            self.schedulePolling(job)
        return output

    def pollJob(self) -> bool:
        """Advance the current job from the main thread; True when it has finished."""
        job = self.currentJob
        if job is None:
            return True
        done = job.poll()
        if done:
            self._finish(job)
        return done

    def _finish(self, job: SegmentationJob) -> None:
        callback = getattr(job, "on_finished", None)
        if callback is not None:
            job.on_finished = None
            callback(job)

    def cancel(self) -> None:
        if self.currentJob is not None:
            self.currentJob.cancel()

    # ------------------------------------------------------------------ the tree
    def labelTree(self, segmentationNode):
        """The :class:`saltseg.tree.labeltree.LabelTree` stored with the segmentation, or None."""
        return load_tree(segmentationNode)

    def subtreeSegmentIds(self, segmentationNode, path) -> list[str]:
        return subtrees.subtree_segment_ids(segmentationNode, path)

    def setSubtreeVisibility(self, segmentationNode, path, visible: bool) -> list[str]:
        return subtrees.set_subtree_visibility(segmentationNode, path, visible)

    def subtreeVisibility(self, segmentationNode, path) -> str:
        return subtrees.subtree_visibility(segmentationNode, path)

    def showOnlySubtree(self, segmentationNode, path) -> None:
        subtrees.show_only_subtree(segmentationNode, path)

    def mergeSubtree(self, segmentationNode, path, removeMerged: bool = True) -> str:
        return subtrees.merge_subtree(segmentationNode, path, remove_merged=removeMerged)

    def treePanelModel(self, segmentationNode):
        return subtrees.tree_panel_model(segmentationNode)
