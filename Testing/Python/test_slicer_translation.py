"""The module's user-facing strings go through Slicer's translation functions, in the contexts
Slicer's translation tools give them (the file's name, ``qSlicerAbstractCoreModule`` for the
category), and read as English where Slicer has no ``slicer.i18n`` (the headless wheel).

The slicer-core wheel has no ``slicer.i18n`` (it needs Slicer's application and its Qt
translators), so a small stand-in provides it here: Slicer's context rule (``getContext``) and a
translator that holds German translations and records what it was asked."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import slicer

from slicer_test_support import REPO, install_scripted_module_shim
from SALTSegmentationLib import i18n


class Translator:
    """What Slicer's application translator does for a loaded language pack: (context, source) →
    translation, the source where none exists."""

    def __init__(self, translations: dict[tuple[str, str], str]) -> None:
        self.translations = translations
        self.asked: list[tuple[str, str]] = []

    def translate(self, context: str, text: str) -> str:
        self.asked.append((context, text))
        return self.translations.get((context, text), text)


def get_context(source_file: str) -> str:
    """Slicer's rule (Base/Python/slicer/i18n.py): the file's name, prefixed by its package's."""
    folder, name = os.path.split(source_file)
    stem = name[:-3] if name.endswith(".py") else name
    if os.path.isfile(os.path.join(folder, "__init__.py")):
        return f"{os.path.basename(folder)}.{stem}"
    return stem


@pytest.fixture
def german(monkeypatch):
    translator = Translator({
        ("SALTSegmentation", "SALT Segmentation"): "SALT-Segmentierung",
        ("qSlicerAbstractCoreModule", "Segmentation"): "Segmentierung",
    })
    module = types.ModuleType("slicer.i18n")
    module.getContext = get_context
    module.translate = translator.translate
    monkeypatch.setitem(sys.modules, "slicer.i18n", module)
    monkeypatch.setattr(slicer, "i18n", module, raising=False)
    i18n._slicer_i18n.cache_clear()
    yield translator
    i18n._slicer_i18n.cache_clear()


def module_parent():
    install_scripted_module_shim()
    import SALTSegmentation

    parent = type("Parent", (), {})()
    SALTSegmentation.SALTSegmentation(parent)
    return parent


def test_the_module_title_is_translated(german):
    assert module_parent().title == "SALT-Segmentierung"


def test_the_category_is_translated_where_slicer_keeps_category_names(german):
    assert module_parent().categories == ["Segmentierung"]


def test_help_and_acknowledgement_are_translated_as_whole_sentences_in_the_modules_context(german):
    module_parent()
    contexts = {context for context, text in german.asked if text.startswith(("Segments a whole-body CT",
                                                                              "If you use this module"))}
    assert contexts == {"SALTSegmentation"}


def test_a_translator_sees_placeholders_never_values(german):
    module_parent()
    help_source = next(text for _, text in german.asked if text.startswith("Segments a whole-body CT"))
    assert "{documentation}" in help_source and "https://" not in help_source


def test_the_filled_help_still_links_the_documentation(german):
    assert "href='https://github.com/UMEssen/SlicerSALTSegmentation'" in module_parent().helpText


def test_without_slicer_i18n_the_module_reads_in_english():
    i18n._slicer_i18n.cache_clear()
    assert "slicer.i18n" not in sys.modules  # the headless wheel has none
    assert (module_parent().title, module_parent().categories) == ("SALT Segmentation", ["Segmentation"])



def test_the_controllers_messages_are_translated_in_its_own_context(german):
    from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic
    from SALTSegmentationLib.processes.process_runner import SubprocessRunner
    from SALTSegmentationLib.widgets.controller import ModuleController

    german.translations[("widgets.controller", "Cancelled; nothing was changed.")] = \
        "Abgebrochen; nichts wurde geändert."
    view = RecordingView()
    controller = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, Probe())
    controller.on_segment_clicked()
    controller.logic.currentJob.end(FakeJob.CANCELLED, Exception("cancelled by the user"))
    assert view.status == "Abgebrochen; nichts wurde geändert."


def test_a_success_message_is_one_sentence_with_placeholders_for_the_translator(german):
    from types import SimpleNamespace

    from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic
    from SALTSegmentationLib.processes.process_runner import SubprocessRunner
    from SALTSegmentationLib.widgets.controller import ModuleController

    german.translations[("widgets.controller", "{count} structures in {seconds} s.")] = \
        "{count} Strukturen in {seconds} s."
    view = RecordingView()
    controller = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, Probe())
    controller.on_segment_clicked()
    controller.logic.currentJob.end(FakeJob.SUCCEEDED, result=SimpleNamespace(present_values=[1, 2, 3],
                                                                             model_reused=False, warnings=[]))
    assert view.status.startswith("3 Strukturen in ") and view.status.endswith(" s.")


@pytest.mark.parametrize("context, text", [
    ("widgets.structure_chooser_view", "Structures to segment"),
    ("widgets.model_panel", "Install model from file…"),
    ("widgets.statistics_actions", "Export table"),
    ("widgets.tree_widget", "Mean HU"),
    ("widgets.dependency_offers", "Installing PyTorch…"),
])
def test_the_widgets_strings_are_marked_for_translation_in_their_files_context(context, text):
    # What Slicer's translation tools extract: the literal inside _() in that file.
    source = (REPO / "SALTSegmentation" / "SALTSegmentationLib" / Path(*context.split("."))).with_suffix(".py")
    assert f'_("{text}")' in source.read_text(encoding="utf-8") and get_context(str(source)) == context
