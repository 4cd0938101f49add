"""``SALTSegmentationWidget`` as Slicer defines it — with ``slicer.util``'s real VTKObservationMixin,
which the headless import replaces by ``object`` — for the module-life tests (no tests here).

The module file is loaded under another name with a stand-in ``qt`` module: the widget methods
these tests call (enter, exit, scene close, cleanup, the parameter node's observation) use no Qt
widget; ``setup()`` (which builds the Qt widgets) is replaced by assembling the Qt-free parts it
creates: the logic, the controller and the tree panel's :class:`TreePanelSync`.
"""
from __future__ import annotations

import importlib.util
import sys
import types

import slicer

from editing_support import panel_sync
from slicer_test_support import MODULE_DIR, install_scripted_module_shim
from controller_support import Probe, RecordingView


def module_with_qt(monkeypatch) -> types.ModuleType:
    install_scripted_module_shim()
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))
    spec = importlib.util.spec_from_file_location("SALTSegmentation_widget_under_test",
                                                  MODULE_DIR / "SALTSegmentation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import slicer.util

    assert module.VTKObservationMixin is slicer.util.VTKObservationMixin
    return module


class ParameterNodeLogic:
    """The module logic with Slicer's ``getParameterNode`` (ScriptedLoadableModuleLogic's: the
    scene's singleton scripted module node), which the headless stand-in base class lacks."""

    def __init__(self, logic, scene) -> None:
        self._logic, self._scene = logic, scene

    def __getattr__(self, name):
        return getattr(self._logic, name)

    def getParameterNode(self):  # noqa: N802 - Slicer's API
        node = self._scene.GetSingletonNode("SALTSegmentation", "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetName("SALTSegmentation")
            node.SetSingletonTag("SALTSegmentation")
            node.SetParameter("ModuleName", "SALTSegmentation")
            node = self._scene.AddNode(node)
        return node


class WidgetGUIUpdates:
    """Stands in for ``updateGUIFromParameterNode`` (which fills the Qt widgets): counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, caller=None, event=None) -> None:
        self.calls += 1


def assembled_widget(monkeypatch, scene, logic):
    """A ``SALTSegmentationWidget`` with what ``setup()`` would have created, shown in ``scene``.
    Returns (widget, tree panel drawing, tree panel timer, GUI updates)."""
    from SALTSegmentationLib.processes.process_runner import SubprocessRunner
    from SALTSegmentationLib.widgets.controller import ModuleController

    module = module_with_qt(monkeypatch)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    widget = module.SALTSegmentationWidget(types.SimpleNamespace(isEntered=True))
    widget.logic = ParameterNodeLogic(logic, scene)
    widget.controller = ModuleController(RecordingView(), widget.logic, sys.executable, SubprocessRunner, Probe())
    widget.treePanel, drawing, timer = panel_sync()
    widget._rebuildTimer = timer
    updates = WidgetGUIUpdates()
    widget.updateGUIFromParameterNode = updates
    return widget, drawing, timer, updates
