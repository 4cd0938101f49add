"""What the module does outside its widget and logic, with nothing heavy imported (Slicer executes
``SALTSegmentation.py`` at every start-up): load the SALT terminology once, and forget the library's
modules for *Reload*."""
from __future__ import annotations

import os
import sys
from typing import Optional

import slicer

#: The module's terminology (same file as SALTSegmentationLib.scene.terminology_file.TERMINOLOGY_FILE,
#: spelled out so that loading it at start-up imports nothing of the engine).
TERMINOLOGY_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Resources",
                                "SegmentationCategoryTypeModifier-SALT.term.json")


#: The packages next to ``SALTSegmentation.py`` that "Reload" must reload too (the engine included: a new engine
#: process runs the edited files, so the front end must as well).
LIBRARY_PACKAGES = ("SALTSegmentationLib", "saltseg")


def reloadLibrary(packages=LIBRARY_PACKAGES) -> list:
    """Forget the library's modules so that the next import executes the files on disk again.

    ``slicer.util.reloadScriptedModule`` re-executes only ``SALTSegmentation.py`` (Slicer's
    Base/Python/slicer/util.py, ``reloadScriptedModule``); the re-executed file then imports the
    library afresh, each module after the ones it imports (dependency order), as SlicerNNUnet's
    ``onReload`` reloads its library. Returns the names forgotten."""
    names = [name for name in sys.modules if any(name == p or name.startswith(p + ".") for p in packages)]
    for name in names:
        del sys.modules[name]
    return names


_loadedTerminology: Optional[str] = None


def loadTerminology() -> Optional[str]:
    """Load the module's terminology (the SNOMED CT types of SALT's structures, with laterality
    and the engine's colours) into Slicer once; returns its context name."""
    global _loadedTerminology
    if _loadedTerminology is not None:
        return _loadedTerminology
    modules = getattr(slicer, "modules", None)
    if modules is None or not hasattr(modules, "terminologies"):
        return None  # headless (pytest): no Terminologies module
    _loadedTerminology = modules.terminologies.logic().LoadTerminologyFromFile(TERMINOLOGY_FILE) or None
    return _loadedTerminology
