"""The CMake lists decide what the installed extension contains: every Python file and every
run-time resource on disk must be listed (a missing entry only breaks the installed extension)."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "SALTSegmentation"
NOT_SHIPPED = {"CMakeLists.txt"}


def _cmake_list(text: str, variable: str) -> set[str]:
    match = re.search(rf"set\({variable}\s+(.*?)\)", text, re.S)
    assert match, f"{variable} is not set in SALTSegmentation/CMakeLists.txt"
    items = set()
    for line in match.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            items.add(line.replace("${MODULE_NAME}", "SALTSegmentation"))
    return items


def _on_disk() -> tuple[set[str], set[str]]:
    scripts, resources = set(), set()
    for path in MODULE_DIR.rglob("*"):
        relative = path.relative_to(MODULE_DIR)
        if not path.is_file() or any(p == "__pycache__" or p.endswith(".egg-info") for p in relative.parts):
            continue
        if path.suffix == ".pyc" or relative.as_posix() in NOT_SHIPPED:
            continue
        (scripts if path.suffix == ".py" else resources).add(relative.as_posix())
    return scripts, resources


def test_module_cmake_lists_every_file_on_disk():
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    listed_scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    listed_resources = _cmake_list(text, "MODULE_PYTHON_RESOURCES")
    scripts, resources = _on_disk()
    assert "saltseg/inference/pipeline.py" in scripts and "SALTSegmentation.py" in scripts  # the walk works
    assert sorted(scripts - listed_scripts) == [], "add to MODULE_PYTHON_SCRIPTS"
    assert sorted(listed_scripts - scripts) == [], "listed in MODULE_PYTHON_SCRIPTS but not on disk"
    assert sorted(resources - listed_resources) == [], "add to MODULE_PYTHON_RESOURCES"
    assert sorted(listed_resources - resources) == [], "listed in MODULE_PYTHON_RESOURCES but not on disk"
    assert "slicerMacroBuildScriptedModule" in text


def test_extension_cmake_has_index_metadata():
    text = (REPO / "CMakeLists.txt").read_text()
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                     "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert re.search(rf"set\({variable} \"[^\"]+\"\)", text), variable
    assert 'set(EXTENSION_CATEGORY "Segmentation")' in text
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in text
    assert "find_package(Slicer REQUIRED)" in text and "add_subdirectory(SALTSegmentation)" in text


def test_icon_is_a_real_png_and_ui_is_valid_xml():
    import xml.etree.ElementTree as ET

    icon = (MODULE_DIR / "Resources" / "Icons" / "SALTSegmentation.png").read_bytes()
    assert icon[:8] == b"\x89PNG\r\n\x1a\n" and len(icon) > 500
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "SALTSegmentation.ui").getroot()
    names = {w.get("name") for w in ui.iter("widget")}
    # The widget code looks these up by name (slicer.util.childWidgetVariables).
    module_source = (MODULE_DIR / "SALTSegmentation.py").read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", module_source))
    assert used <= names, f"widgets used but missing from the .ui: {sorted(used - names)}"
