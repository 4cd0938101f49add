"""SALT Segmentation: whole-body CT → ~145 anatomical structures, browsed as a label tree.

Thin Slicer layer: the engine is ``saltseg`` and the Slicer-side logic is ``SALTSegmentationLib``
(both next to this file), so most of it is tested with pytest outside Slicer.

Console use (blocking by default)::

    logic = slicer.util.getModuleLogic("SALTSegmentation")
    seg = logic.segment(slicer.util.getNode("CT"))
    logic.setSubtreeVisibility(seg, "body,bones,spine,lumbar_spine", False)
"""
from __future__ import annotations

import logging
import os
import time
from typing import Optional

import slicer
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)

import vtk

try:
    import qt
    from slicer.util import VTKObservationMixin
except ImportError:  # headless slicer-core (pytest): only the Logic is usable
    qt = None
    VTKObservationMixin = object

from SALTSegmentationLib import parameters
from SALTSegmentationLib.engine_session import DEFAULT_IDLE_TIMEOUT
from SALTSegmentationLib.logic_core import SegmentationLogicCore
from SALTSegmentationLib.process_runner import SubprocessRunner

MODULE_TITLE = "SALT Segmentation"
ENGINE_IDLE_SETTING = "SALTSegmentation/EngineIdleSeconds"
#: Engine dependencies (besides torch) that Slicer's Python does not ship.
PURE_PYTHON_DEPENDENCIES = ("platformdirs",)


class SALTSegmentation(ScriptedLoadableModule):
    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = MODULE_TITLE
        parent.categories = ["Segmentation"]
        parent.dependencies = []
        parent.contributors = ["SALTSegmentation developers"]
        parent.helpText = (
            "Segments a whole-body CT into about 145 anatomical structures with SALT (Softmax for "
            "Arbitrary Label Trees) and shows them nested by anatomy: check a node of the tree to show "
            "its whole subtree, double-click to jump to a structure. "
            "See <a href='https://github.com/UMEssen/SALT'>UMEssen/SALT</a>.")
        parent.acknowledgementText = (
            "SALT: Softmax for Arbitrary Label Trees. Sci Rep 15, 44140 (2025); arXiv:2407.08878. "
            "Reference implementation and model: UMEssen/SALT (MIT licence).")
        app = getattr(slicer, "app", None)
        if app is not None:
            app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """The CT phantom in the Sample Data module (generated on first use, no download), so the
    whole workflow can be tried offline with the bundled demo model."""
    import SampleData
    from SALTSegmentationLib.sample_data import register_phantom_sample

    thumbnail = os.path.join(os.path.dirname(__file__), "Resources", "Icons", "SALTPhantom.png")
    register_phantom_sample(SampleData.SampleDataLogic, _sampleDataFolder,
                            lambda: SALTSegmentationLogic().loadPhantom(), thumbnail)


def _sampleDataFolder() -> str:
    return slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()


class SALTSegmentationLogic(ScriptedLoadableModuleLogic, SegmentationLogicCore):
    """``segment(volumeNode, segmentationNode=None, model=None, device="auto", wait=True, progress=None)``
    plus ``currentJob`` (``wait(timeout)``), ``cancel``, ``labelTree``, ``subtreeSegmentIds``,
    ``setSubtreeVisibility``, ``subtreeVisibility``, ``showOnlySubtree`` and ``mergeSubtree``
    (see SALTSegmentationLib.logic_core). The engine runs in its own process (Slicer's Python),
    started on the first ``segment`` and kept loaded for ``engineIdleTimeout`` seconds."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        app = getattr(slicer, "app", None)
        runner_factory = SubprocessRunner
        if qt is not None and app is not None:
            from SALTSegmentationLib.qt_process import QProcessRunner

            runner_factory = QProcessRunner  # event-driven: the engine's output arrives as Qt signals
        SegmentationLogicCore.__init__(self, process_events=app.processEvents if app is not None else None,
                                       runner_factory=runner_factory, idle_timeout=engineIdleTimeoutSetting())
        if qt is not None:
            from SALTSegmentationLib.model_panel import models_folder_setting

            self.modelsHome = models_folder_setting()
        loadTerminology()

    def setDefaultParameters(self, parameterNode) -> None:
        parameters.set_default_parameters(parameterNode)

    def loadPhantom(self, seed: Optional[int] = None):
        """Load the CT phantom (sample data; generated on first use) and show it; returns the volume.
        ``segment(volume)`` then uses the bundled demo model, so it works offline."""
        from SALTSegmentationLib.sample_data import PHANTOM_SEED, load_phantom

        volume = load_phantom(slicer.mrmlScene, _sampleDataFolder(), PHANTOM_SEED if seed is None else seed)
        if hasattr(slicer.util, "setSliceViewerLayers") and getattr(slicer, "app", None) is not None:
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
        return volume


def engineIdleTimeoutSetting() -> float:
    """Seconds the engine keeps its model loaded after a run (setting ``SALTSegmentation/EngineIdleSeconds``)."""
    if qt is None:
        return DEFAULT_IDLE_TIMEOUT
    try:
        return float(qt.QSettings().value(ENGINE_IDLE_SETTING, DEFAULT_IDLE_TIMEOUT))
    except (TypeError, ValueError):
        return DEFAULT_IDLE_TIMEOUT


def loadTerminology() -> Optional[str]:
    """Load the module's terminology (the SNOMED CT types of SALT's structures, with laterality)
    into Slicer, as SlicerTotalSegmentator does; returns its context name."""
    modules = getattr(slicer, "modules", None)
    if modules is None or not hasattr(modules, "terminologies"):
        return None  # headless (pytest): no Terminologies module
    from SALTSegmentationLib.terminology_file import TERMINOLOGY_FILE

    return modules.terminologies.logic().LoadTerminologyFromFile(str(TERMINOLOGY_FILE))


class SALTSegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._observedSegmentation = None
        self._startTime = 0.0
        self._parameterNode = None
        self._updatingGUIFromParameterNode = False

    def setup(self) -> None:
        from SALTSegmentationLib.model_panel import ModelPanel
        from SALTSegmentationLib.tree_widget import TreePanelView

        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SALTSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SALTSegmentationLogic()
        self.treeView = TreePanelView(self.ui.structureTreeWidget, self.showError)
        self.modelPanel = ModelPanel(self.ui.modelComboBox, self.ui.modelMenuButton, self.showError,
                                     on_models_folder_changed=self.onModelsFolderChanged)
        self.populateDevices()
        self.ui.progressBar.hide()

        self.ui.segmentButton.connect("clicked(bool)", self.onSegmentButton)
        self.ui.inputVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputVolumeChanged)
        self.ui.outputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onOutputChanged)
        self.ui.searchLineEdit.connect("textChanged(QString)", self.treeView.apply_filter)
        self.ui.expandAllButton.connect("clicked()", self.treeView.expand_all)
        self.ui.collapseAllButton.connect("clicked()", self.treeView.collapse_all)
        self.ui.showOnlyButton.connect("clicked()", self.onShowOnly)
        self.ui.mergeSubtreeButton.connect("clicked()", self.onMergeSubtree)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        # Every user choice goes to the parameter node, so it is saved with the scene.
        for widget, signal in ((self.ui.inputVolumeSelector, "currentNodeChanged(vtkMRMLNode*)"),
                               (self.ui.outputSegmentationSelector, "currentNodeChanged(vtkMRMLNode*)"),
                               (self.ui.modelComboBox, "currentIndexChanged(int)"),
                               (self.ui.deviceComboBox, "currentIndexChanged(int)"),
                               (self.ui.overlapSpinBox, "valueChanged(double)"),
                               (self.ui.batchSizeSpinBox, "valueChanged(int)"),
                               (self.ui.largestComponentCheckBox, "toggled(bool)")):
            widget.connect(signal, self.updateParameterNodeFromGUI)
        self.initializeParameterNode()
        self.onOutputChanged()
        self.updateButtonState()

    def cleanup(self) -> None:
        self.removeObservers()
        if self.logic is not None:
            self.logic.cancel()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        # The GUI is brought up to date from the parameter node when the module is entered again.
        if self._parameterNode is not None:
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)

    def onSceneStartClose(self, caller=None, event=None) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller=None, event=None) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()
        self.onOutputChanged()

    # ------------------------------------------------------------------ parameter node
    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.GetNodeReference(parameters.INPUT_VOLUME):
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume:
                self._parameterNode.SetNodeReferenceID(parameters.INPUT_VOLUME, firstVolume.GetID())

    def setParameterNode(self, parameterNode) -> None:
        if parameterNode:
            self.logic.setDefaultParameters(parameterNode)
        if self._parameterNode is not None:
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = parameterNode
        if self._parameterNode is not None:
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None) -> None:
        if self._parameterNode is None or self._updatingGUIFromParameterNode:
            return
        self._updatingGUIFromParameterNode = True  # the widget signals below must not write back
        try:
            node = self._parameterNode
            self.ui.inputVolumeSelector.setCurrentNode(node.GetNodeReference(parameters.INPUT_VOLUME))
            self.ui.outputSegmentationSelector.setCurrentNode(node.GetNodeReference(parameters.OUTPUT_SEGMENTATION))
            options = parameters.read_options(node)
            for combo, value in ((self.ui.modelComboBox, options["model"]), (self.ui.deviceComboBox, options["device"])):
                index = combo.findData(value) if value else -1
                if index >= 0:
                    combo.setCurrentIndex(index)
            self.ui.overlapSpinBox.value = options["overlap"]
            self.ui.batchSizeSpinBox.value = options["batch_size"]
            self.ui.largestComponentCheckBox.checked = options["largest_component"]
        finally:
            self._updatingGUIFromParameterNode = False
        self.updateButtonState()

    def updateParameterNodeFromGUI(self, *args) -> None:
        if self._parameterNode is None or self._updatingGUIFromParameterNode:
            return
        wasModified = self._parameterNode.StartModify()
        self._parameterNode.SetNodeReferenceID(parameters.INPUT_VOLUME, self.ui.inputVolumeSelector.currentNodeID)
        self._parameterNode.SetNodeReferenceID(parameters.OUTPUT_SEGMENTATION,
                                               self.ui.outputSegmentationSelector.currentNodeID)
        parameters.write_options(self._parameterNode, self.modelPanel.current_model(),
                                 self.ui.deviceComboBox.currentData, self.ui.overlapSpinBox.value,
                                 self.ui.batchSizeSpinBox.value, self.ui.largestComponentCheckBox.checked)
        self._parameterNode.EndModify(wasModified)

    def onModelsFolderChanged(self, folder: str) -> None:
        self.logic.modelsHome = folder or None

    # ------------------------------------------------------------------ inputs
    def populateDevices(self) -> None:
        combo = self.ui.deviceComboBox
        combo.clear()
        try:
            from saltseg.inference.devices import device_availability
            devices = [(d.name, d.available, d.reason) for d in device_availability()]
        except ImportError:  # no torch yet: it is offered at Segment time
            devices = [("auto", True, ""), ("cpu", True, "")]
        labels = {"auto": "Auto", "cuda": "CUDA (NVIDIA GPU)", "mps": "Apple MPS", "cpu": "CPU"}
        for index, (name, available, reason) in enumerate(devices):
            combo.addItem(labels.get(name, name), name)
            combo.model().item(index).setEnabled(available)
            combo.setItemData(index, reason or labels.get(name, name), qt.Qt.ToolTipRole)

    def onInputVolumeChanged(self, node=None) -> None:
        from SALTSegmentationLib.sample_data import suggested_model

        suggested = suggested_model(node)
        if suggested:  # the phantom asks for the demo model
            self.modelPanel.select(suggested)
        self.updateButtonState()

    def updateButtonState(self, *args) -> None:
        running = self.logic.currentJob is not None and not self.logic.currentJob.finished
        self.ui.segmentButton.text = "Cancel" if running else "Segment"
        self.ui.segmentButton.enabled = running or self.ui.inputVolumeSelector.currentNode() is not None

    def ensureDependencies(self) -> bool:
        """Offer to install what the engine needs and Slicer lacks: PyTorch through the PyTorch
        extension, and the small pure-Python packages with pip. Never silently, never at import."""
        import importlib.util

        missing = [name for name in PURE_PYTHON_DEPENDENCIES if importlib.util.find_spec(name) is None]
        if missing:
            if not slicer.util.confirmOkCancelDisplay(
                    f"SALT needs these Python packages: {', '.join(missing)}. Install them now?"):
                return False
            with slicer.util.tryWithErrorDisplay("The packages could not be installed.", waitCursor=True):
                slicer.util.pip_install(" ".join(missing))
            self.modelPanel.reopen_registry()
        try:
            import torch  # noqa: F401
            return True
        except ImportError:
            pass
        try:
            import PyTorchUtils
        except ImportError:
            self.showError("SALT needs PyTorch. Install the 'PyTorch' extension from the Extensions Manager, "
                           "restart Slicer and press Segment again.")
            return False
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            if not slicer.util.confirmOkCancelDisplay(
                    "SALT needs PyTorch, which is not installed yet. Install it now? "
                    "This downloads 1-3 GB and may take several minutes."):
                return False
            with slicer.util.tryWithErrorDisplay("PyTorch could not be installed.", waitCursor=True):
                if torchLogic.installTorch(askConfirmation=False, torchVersionRequirement=">=2.1") is None:
                    return False
        self.populateDevices()
        return True

    # ------------------------------------------------------------------ running
    def onSegmentButton(self, *args) -> None:
        if self.logic.currentJob is not None and not self.logic.currentJob.finished:
            self.logic.cancel()
            self.ui.statusLabel.text = "Cancelling…"
            return
        if not self.ensureDependencies():
            return
        from saltseg.errors import SaltSegError

        self.updateParameterNodeFromGUI()
        options = parameters.segment_options(self._parameterNode)
        self.ui.statusLabel.text = ""
        self._startTime = time.perf_counter()
        try:
            node = self.logic.segment(self.ui.inputVolumeSelector.currentNode(),
                                      self.ui.outputSegmentationSelector.currentNode(),
                                      model=self.modelPanel.current_model(),
                                      device=self.ui.deviceComboBox.currentData, wait=False,
                                      progress=self.onProgress, options=options, onFinished=self.onFinished)
        except (SaltSegError, ValueError, RuntimeError) as error:
            self.showError(str(error))
            return
        self.ui.outputSegmentationSelector.setCurrentNode(node)
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.updateButtonState()

    def onProgress(self, stage: str, fraction: float) -> None:
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.progressBar.format = f"{stage.capitalize()}: %p%"

    def onFinished(self, job: SegmentationJob) -> None:
        from saltseg.errors import OutOfMemoryError

        self.ui.progressBar.hide()
        self.updateButtonState()
        if job.state == job.SUCCEEDED:
            result = job.result
            elapsed = time.perf_counter() - self._startTime
            self.ui.statusLabel.text = f"{len(result.present_values)} structures in {elapsed:.0f} s." + \
                "".join(f"\nWarning: {w}" for w in result.warnings)
            self.onOutputChanged()
        elif job.state == job.CANCELLED:
            self.ui.statusLabel.text = "Cancelled; nothing was changed."
        else:
            self.showError(str(job.error))
            if isinstance(job.error, OutOfMemoryError) and slicer.util.confirmYesNoDisplay(
                    f"{job.error}\n\nRetry on the CPU?"):
                self.ui.deviceComboBox.setCurrentIndex(self.ui.deviceComboBox.findData("cpu"))
                self.onSegmentButton()

    def showError(self, message: str) -> None:
        logging.error(message)
        self.ui.statusLabel.text = f"Error: {message}"

    # ------------------------------------------------------------------ tree panel
    def onOutputChanged(self, *args) -> None:
        node = self.ui.outputSegmentationSelector.currentNode()
        if self._observedSegmentation is not None:
            self.removeObserver(self._observedSegmentation, slicer.vtkMRMLDisplayableNode.DisplayModifiedEvent,
                                self.onDisplayModified)
        self._observedSegmentation = node
        if node is not None:
            self.addObserver(node, slicer.vtkMRMLDisplayableNode.DisplayModifiedEvent, self.onDisplayModified)
        self.treeView.set_segmentation(node)
        self.treeView.apply_filter(self.ui.searchLineEdit.text)

    def onDisplayModified(self, caller=None, event=None) -> None:
        self.treeView.refresh_check_states()

    def onShowOnly(self) -> None:
        nodeId = self.treeView.selected_node_id()
        if nodeId:
            self.logic.showOnlySubtree(self.treeView.segmentation_node, nodeId)
            self.treeView.refresh_check_states()

    def onMergeSubtree(self) -> None:
        nodeId = self.treeView.selected_node_id()
        if not nodeId:
            return
        with slicer.util.tryWithErrorDisplay("Could not merge the subtree.", waitCursor=True):
            self.logic.mergeSubtree(self.treeView.segmentation_node, nodeId)
        self.treeView.rebuild()


class SALTSegmentationTest(ScriptedLoadableModuleTest):
    """Reload and Test: segments a synthetic CT with a small real model and the phantom sample with
    the bundled demo model (no download needed)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_segment_and_browse()
        self.setUp()
        self.test_phantom_sample_offline()

    def test_phantom_sample_offline(self) -> None:
        self.delayDisplay("Loading the phantom sample and segmenting it with the bundled demo model")
        logic = SALTSegmentationLogic()
        volume = logic.loadPhantom()
        segmentation = logic.segment(volume, device="cpu")  # the volume names the demo model
        self.assertGreater(len(logic.subtreeSegmentIds(segmentation, "body,abdominal_cavity,kidneys")), 1)
        self.delayDisplay("Test passed")

    def test_segment_and_browse(self) -> None:
        import tempfile
        from pathlib import Path

        import sitkUtils
        from saltseg.tree.labeltree import LabelTree
        from saltseg.synthetic_ct import synthetic_ct
        from saltseg.model.threshold_model import export_threshold_model

        self.delayDisplay("Creating a synthetic CT and a small model")
        tree = LabelTree.from_tree_labels_file(
            Path(__file__).parent / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt")
        modelDir = export_threshold_model(Path(tempfile.mkdtemp()) / "model", tree,
                                          roi_size=(32, 32, 16), voxel_spacing=(6.0, 6.0, 6.0))
        volume = sitkUtils.PushVolumeToSlicer(synthetic_ct(), name="SyntheticCT")

        self.delayDisplay("Segmenting")
        logic = SALTSegmentationLogic()
        segmentation = logic.segment(volume, model=str(modelDir), device="cpu")
        ids = logic.subtreeSegmentIds(segmentation, "body")
        self.assertGreater(len(ids), 0)
        self.assertEqual(logic.labelTree(segmentation), tree)

        self.delayDisplay("Hiding and merging subtrees")
        logic.setSubtreeVisibility(segmentation, "body", False)
        self.assertEqual(logic.subtreeVisibility(segmentation, "body"), "hidden")
        logic.setSubtreeVisibility(segmentation, ids[0], True)
        self.assertEqual(logic.subtreeVisibility(segmentation, "body"),
                         "visible" if len(ids) == 1 else "partial")
        merged = logic.mergeSubtree(segmentation, "body")
        self.assertEqual(logic.subtreeSegmentIds(segmentation, "body"), [merged])
        self.delayDisplay("Test passed")
