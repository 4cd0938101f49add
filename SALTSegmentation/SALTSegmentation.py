"""SALT Segmentation: whole-body CT → ~145 anatomical structures, browsed as a label tree.

Thin Slicer layer: the engine is ``saltseg`` and the Slicer-side logic is ``SALTSegmentationLib``
(both next to this file), so most of it is tested with pytest outside Slicer.

Console use (blocking by default)::

    logic = slicer.util.getModuleLogic("SALTSegmentation")
    seg = logic.segment(slicer.util.getNode("CT"))
    logic.setSubtreeVisibility(seg, "body,bones,spine,lumbar_spine", False)
"""
from __future__ import annotations

import os
import unittest
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

# Slicer executes this file at every start-up: only light imports here (the library's heavy
# parts, SimpleITK, numpy and the engine are imported when the module is used).
from SALTSegmentationLib.scene import parameters
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.module_setup import loadTerminology, reloadLibrary
from SALTSegmentationLib.i18n import _, translate

#: This project's repository (EXTENSION_REPOSITORY_URL of the top-level CMakeLists.txt).
REPOSITORY_URL = "https://github.com/UMEssen/SlicerSALTSegmentation"
#: The citations of CITATION.cff, as the README gives them.
SALT_CITATION = ("Becker S.S., Baldini G., Schmidt C.S., et al. SALT: Introducing a framework for hierarchical "
                 "segmentations in medical imaging using label trees. Sci Rep 15, 44140 (2025). "
                 "doi:10.1038/s41598-025-31639-1")
SALT_PREPRINT = ("Koitka S., Baldini G., Schmidt C.S., Pollok O.B., Pelka O., Kohnke J., Borys K., Friedrich C.M., "
                 "Schaarschmidt B.M., Forsting M., Umutlu L., Haubold J., Nensa F., Hosch R. SALT: Introducing a "
                 "Framework for Hierarchical Segmentations in Medical Imaging using Softmax for Arbitrary Label "
                 "Trees. arXiv:2407.08878 (2024)")


class SALTSegmentation(ScriptedLoadableModule):
    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = _("SALT Segmentation")
        parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        parent.dependencies = []
        parent.contributors = ["SALTSegmentation developers"]
        parent.helpText = _(
            "Segments a whole-body CT into about 145 anatomical structures with SALT (Softmax for "
            "Arbitrary Label Trees) and shows them nested by anatomy: check a node of the tree to show "
            "its whole subtree, double-click to jump to a structure. "
            "See the <a href='{documentation}'>documentation</a> and SALT's "
            "<a href='{reference}'>reference code</a>.").format(documentation=REPOSITORY_URL,
                                                               reference="https://github.com/UMEssen/SALT")
        # The references themselves stay as published; the sentences around them are translated.
        parent.acknowledgementText = _(
            "If you use this module, please cite SALT: {citation}. Preprint: {preprint} (Koitka S. and "
            "Baldini G. contributed equally). Reference implementation and model: UMEssen/SALT (MIT "
            "licence).").format(citation=SALT_CITATION, preprint=SALT_PREPRINT)
        app = getattr(slicer, "app", None)
        if app is not None:
            # Once Slicer has started (as SlicerTotalSegmentator does): the terminology before any
            # scene or .seg.nrrd naming the SALT context is loaded, even if the module is never opened.
            app.connect("startupCompleted()", loadTerminology)
            app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """The CT phantom in the Sample Data module (generated on first use, no download), so the
    whole workflow can be tried offline with the bundled demo model."""
    import SampleData
    from SALTSegmentationLib.scene.sample_data import register_phantom_sample

    thumbnail = os.path.join(os.path.dirname(__file__), "Resources", "Icons", "SALTPhantom.png")
    register_phantom_sample(SampleData.SampleDataLogic, _sampleDataFolder,
                            lambda: SALTSegmentationLogic().loadPhantom(), thumbnail)


def _sampleDataFolder() -> str:
    return slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()


class SALTSegmentationLogic(ScriptedLoadableModuleLogic, SegmentationLogicCore):
    """``segment(volumeNode, segmentationNode=None, model=None, device="auto", wait=True, progress=None)``
    plus ``currentJob`` (``wait(timeout)``), ``cancel``, ``labelTree``, ``subtreeSegmentIds``,
    ``setSubtreeVisibility``, ``subtreeVisibility``, ``showOnlySubtree``, ``mergeSubtree``,
    ``statistics``, ``exportStatisticsTable``, ``organize`` and, for runs with ``confidence=True`` /
    ``probabilities=[...]``, ``probabilityMaps``, ``showProbability``, ``hideProbability`` and
    ``showUncertainVoxels`` (see SALTSegmentationLib.scene.logic_core).
    The engine runs in its own process (Slicer's Python),
    started on the first ``segment`` and kept loaded for ``engineIdleTimeout`` seconds."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        app = getattr(slicer, "app", None)
        runner_factory = SubprocessRunner
        if qt is not None and app is not None:
            from SALTSegmentationLib.processes.qt_process import QProcessRunner

            runner_factory = QProcessRunner  # event-driven: the engine's output arrives as Qt signals
        from SALTSegmentationLib.processes.settings import engine_idle_setting, models_folder_setting

        SegmentationLogicCore.__init__(self, process_events=app.processEvents if app is not None else None,
                                       runner_factory=runner_factory, idle_timeout=engine_idle_setting())
        if qt is not None:
            self.modelsHome = models_folder_setting()
        loadTerminology()  # no-op when start-up loaded it; needed when the module was added later

    def setDefaultParameters(self, parameterNode) -> None:
        parameters.set_default_parameters(parameterNode)

    def loadPhantom(self, seed: Optional[int] = None):
        """Load the CT phantom (sample data; generated on first use) and show it; returns the volume.
        ``segment(volume)`` then uses the bundled demo model, so it works offline."""
        from SALTSegmentationLib.scene.sample_data import PHANTOM_SEED, load_phantom

        volume = load_phantom(slicer.mrmlScene, _sampleDataFolder(), PHANTOM_SEED if seed is None else seed)
        if hasattr(slicer.util, "setSliceViewerLayers") and getattr(slicer, "app", None) is not None:
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
        return volume


class SALTSegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds Qt signals to :class:`SALTSegmentationLib.widgets.controller.ModuleController` (where the
    behaviour lives and is tested) and implements its view with widgets and Slicer's dialogs."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.controller = None
        self._parameterNode = None
        self._updatingGUIFromParameterNode = False

    def setup(self) -> None:
        from SALTSegmentationLib.widgets.controller import ModuleController
        from SALTSegmentationLib.processes.engine_session import python_executable
        from SALTSegmentationLib.processes.settings import model_folders_setting
        from SALTSegmentationLib.widgets.model_panel import ModelPanel
        from SALTSegmentationLib.widgets.module_view import ModuleView
        from SALTSegmentationLib.widgets.server_panel import ServerPanel
        from SALTSegmentationLib.processes.qt_process import QProcessRunner
        from SALTSegmentationLib.widgets.statistics_actions import add_structure_sections
        from SALTSegmentationLib.widgets.probability_panel import ProbabilityPanel
        from SALTSegmentationLib.widgets.structures_panel import StructuresPanel
        from SALTSegmentationLib.widgets.parameter_fields import watch_fields

        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SALTSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SALTSegmentationLogic()
        # Dialogs are opened from the event loop, never inside a QProcess slot (see the controller).
        self.view = ModuleView(self.ui, _("SALT Segmentation"), self.run_settings)  # the dialogs' title
        self.controller = ModuleController(self.view, self.logic, python_executable(), QProcessRunner,
                                           model_folders=model_folders_setting,
                                           defer=lambda action: qt.QTimer.singleShot(0, action),
                                           settings_store=qt.QSettings())
        # The tree, its burst timer and its buttons; the other panels reach the tree through these.
        self.structuresPanel = StructuresPanel(self.ui, self.controller, self.view.show_error)
        structures = self.structuresPanel
        self.treeView, self.treePanel, self._rebuildTimer = structures.tree_view, structures.sync, structures.timer
        self.structureChooser = add_structure_sections(self, uiWidget)  # chooser; Export table / Save CSV
        self.modelPanel = ModelPanel(self.ui.modelComboBox, self.ui.modelMenuButton, self.controller,
                                     on_models_folder_changed=self.onModelsFolderChanged)
        self.view.controller, self.view.model_panel = self.controller, self.modelPanel
        # "Run on": kept in Slicer's settings (the server's token too), never in the parameter node.
        self.serverPanel = ServerPanel(self.ui, self.controller.location)
        self.probabilityPanel = ProbabilityPanel(self)  # Output → Probability maps; heat map, uncertain voxels
        self.ui.progressBar.hide()
        self.ui.taskCancelButton.hide()
        from SALTSegmentationLib.widgets.activity_log import MAX_LINES

        self.ui.logTextEdit.maximumBlockCount = MAX_LINES
        self.ui.copyLogButton.connect("clicked()", self.view.copy_log)
        self.ui.clearLogButton.connect("clicked()", self.view.clear_log)

        self.ui.segmentButton.connect("clicked(bool)", lambda checked: self.controller.on_segment_clicked())
        self.ui.taskCancelButton.connect("clicked()", self.controller.cancel_task)
        self.ui.inputVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputVolumeChanged)
        self.ui.outputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onOutputChanged)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        watch_fields(self.ui, self.updateParameterNodeFromGUI)  # every choice is saved with the scene
        self.initializeParameterNode()
        self.onOutputChanged()
        self.controller.on_enter()

    def cleanup(self) -> None:
        # Reload or exit: start no process, and let no callback reach these widgets any more.
        self.removeObservers()
        # setup() may have failed halfway, and Reload calls cleanup twice: touch only what exists.
        for name, action in (("treePanel", "close"), ("_rebuildTimer", "stop")):
            member = getattr(self, name, None)
            if member is not None:
                getattr(member, action)()
        if self.controller is not None:
            self.controller.shutdown()
        if self.logic is not None:
            self.logic.shutdownEngine()

    def onReload(self) -> None:
        """Reload the library and the engine too, not only this file: the warm engine is stopped
        (the next run starts one with the edited ``saltseg``), then the library is re-imported."""
        self.cleanup()
        reloadLibrary()
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self) -> None:
        self.initializeParameterNode()
        self.controller.on_enter()  # e.g. PyTorch was installed from the PyTorch module meanwhile
        self.treePanel.enter()  # catches up with what was edited elsewhere meanwhile
        self.controller.probability_actions.resume()  # the selected structure's heat map comes back

    def exit(self) -> None:
        # The GUI is brought up to date from the parameter node when the module is entered again;
        # meanwhile neither the parameter node nor the segmentation is observed.
        self._unobserveParameterNode()
        self.treePanel.exit()
        self.controller.probability_actions.clear()  # the slice views get back what they showed

    def onSceneStartClose(self, caller=None, event=None) -> None:
        self.controller.on_scene_start_close()  # also gives the slice views back
        self.treePanel.scene_closing()
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
        self._unobserveParameterNode()
        self._parameterNode = parameterNode
        if self._parameterNode is not None:
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self.updateGUIFromParameterNode()

    def _unobserveParameterNode(self) -> None:
        # exit() already removed it when enter() or a scene close comes next: removing it twice
        # makes VTKObservationMixin warn.
        node = self._parameterNode
        if node is not None and self.hasObserver(node, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode):
            self.removeObserver(node, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)

    def updateGUIFromParameterNode(self, caller=None, event=None) -> None:
        if self._parameterNode is None or self._updatingGUIFromParameterNode:
            return
        from SALTSegmentationLib.widgets.parameter_fields import show_parameters

        self._updatingGUIFromParameterNode = True  # the widget signals it sets off must not write back
        try:
            show_parameters(self.ui, self._parameterNode, self.probabilityPanel.maps)
        finally:
            self._updatingGUIFromParameterNode = False
        self.controller.update_button()

    def updateParameterNodeFromGUI(self, *args) -> None:
        if self._parameterNode is None or self._updatingGUIFromParameterNode:
            return
        from SALTSegmentationLib.widgets.parameter_fields import write_parameters

        write_parameters(self._parameterNode, self.ui, self.modelPanel.current_model(), self.probabilityPanel.maps)

    def onModelsFolderChanged(self, folder) -> None:
        self.logic.modelsHome = folder or None

    def onInputVolumeChanged(self, node=None) -> None:
        from SALTSegmentationLib.scene.sample_data import suggested_model

        suggested = suggested_model(node)
        if suggested:  # the phantom asks for the demo model
            self.modelPanel.select(suggested)
        self.controller.update_button()

    # ------------------------------------------------------------------ run settings (for the view)
    def run_settings(self):
        from SALTSegmentationLib.widgets.parameter_fields import run_settings

        self.updateParameterNodeFromGUI()
        return run_settings(self.ui, self._parameterNode, self.modelPanel.current_model(),
                            self.structureChooser.structures())

    # ------------------------------------------------------------------ tree panel
    def onOutputChanged(self, *args) -> None:
        node = self.ui.outputSegmentationSelector.currentNode()
        self.ui.show3DButton.setSegmentationNode(node)
        self.treeView.apply_filter(self.ui.searchLineEdit.text)
        self.treePanel.set_segmentation(node)

    def rebuildTree(self) -> None:
        self.treePanel.rebuild()


class SALTSegmentationTest(ScriptedLoadableModuleTest):
    """Reload and Test. The engine part (segmenting the phantom sample with the bundled demo
    model, in the engine process) needs PyTorch, which the Extensions Index build machines do not
    have (the module installs it on demand): there it is skipped, as
    SlicerTotalSegmentator does, and only the torch-free part runs.

    Slicer's ctest runs this class through ``slicer.testing.runUnitTest``, i.e.
    ``unittest.TestLoader().loadTestsFromName``: every ``test_*`` method runs on its own and
    ``runTest`` is never called (Slicer's Base/Python/slicer/testing.py, ``runUnitTest``), so each
    method guards itself with ``skipTest``."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def requireEngine(self) -> None:
        """Skip the calling test when the engine cannot run in this Slicer (no PyTorch)."""
        from SALTSegmentationLib.processes.dependencies import DependencyProbe

        problem = DependencyProbe().torch_problem()
        if problem is not None:
            self.skipTest(f"{problem} Skipping the engine test.")

    def runTest(self) -> None:
        # "Reload and Test" calls runTest: run every test, reporting a skipped one instead of
        # failing on unittest's SkipTest.
        for name in ("test_tree_operations_without_engine", "test_phantom_sample_offline"):
            self.setUp()
            try:
                getattr(self, name)()
            except unittest.SkipTest as reason:
                self.delayDisplay(f"{name} skipped: {reason}")

    def test_tree_operations_without_engine(self) -> None:
        self.delayDisplay("Loading the phantom sample (generated, no download)")
        logic = SALTSegmentationLogic()
        volume = logic.loadPhantom()
        self.assertIsNotNone(volume.GetImageData())
        empty = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        self.assertIsNone(logic.labelTree(empty))
        self.assertEqual(logic.subtreeSegmentIds(empty, "body"), [])
        self.delayDisplay("Test passed")

    def test_phantom_sample_offline(self) -> None:
        self.requireEngine()
        self.delayDisplay("Segmenting the phantom sample with the bundled demo model (engine process)")
        logic = SALTSegmentationLogic()
        volume = logic.loadPhantom()
        segmentation = logic.segment(volume, device="cpu")  # the volume names the demo model
        kidneys = logic.subtreeSegmentIds(segmentation, "body,abdominal_cavity,kidneys")
        self.assertGreater(len(kidneys), 1)
        logic.setSubtreeVisibility(segmentation, "body", False)
        self.assertEqual(logic.subtreeVisibility(segmentation, "body"), "hidden")
        merged = logic.mergeSubtree(segmentation, "body,abdominal_cavity,kidneys")
        self.assertEqual(logic.subtreeSegmentIds(segmentation, "body,abdominal_cavity,kidneys"), [merged])
        rows = {row.node: row for row in logic.statistics(segmentation, volume)}
        self.assertGreater(rows["body,abdominal_cavity,kidneys"].voxels, 0)  # the merged segment counts there
        self.assertEqual(logic.exportStatisticsTable(segmentation, volume).GetTable().GetNumberOfRows(), len(rows))
        logic.shutdownEngine()
        self.delayDisplay("Test passed")
