"""The Slicer library's layers import only downward (processes < scene < widgets), and the module's
Logic uses nothing of the widgets layer: a console script or another module's Logic gets no Qt
widget code with it. Read from the sources (ast), as an import could hide behind a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "SALTSegmentation"
LIBRARY = MODULE / "SALTSegmentationLib"
LAYERS = ("processes", "scene", "widgets")


def imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Absolute names of what ``tree`` imports (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names.add(".".join([*base, node.module or ""]).strip("."))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_a_lower_layer_imports_no_higher_one(layer):
    higher = LAYERS[LAYERS.index(layer) + 1:]
    offending = {
        f"{path.name}: {name}"
        for path in (LIBRARY / layer).glob("*.py")
        for name in imported_modules(ast.parse(path.read_text(encoding="utf-8")), f"SALTSegmentationLib.{layer}")
        if any(name.startswith(f"SALTSegmentationLib.{other}") for other in higher)
    }
    assert offending == set()


def test_the_logic_class_imports_nothing_of_the_widgets_layer():
    module = ast.parse((MODULE / "SALTSegmentation.py").read_text(encoding="utf-8"))
    logic = next(node for node in module.body
                 if isinstance(node, ast.ClassDef) and node.name == "SALTSegmentationLogic")
    assert {name for name in imported_modules(logic, "") if "widgets" in name} == set()
