"""The module's application settings (Slicer's ``QSettings``, never the scene): where the engine's
models live, the model folders the user picked, how long the engine stays loaded after a run.
Read by the Logic and the widgets alike, so they sit below both; ``qt`` is imported when a setting
is read, never at import."""
from __future__ import annotations

from typing import Any, Optional

#: Where downloaded/installed models live; overrides SALTSEG_HOME and the platform default.
MODELS_FOLDER_SETTING = "SALTSegmentation/ModelsFolder"
#: Model folders the user picked ("Add model folder…").
FOLDERS_SETTING = "SALTSegmentation/ModelFolders"
#: The model last chosen in the model box.
CURRENT_SETTING = "SALTSegmentation/Model"
#: Seconds the engine keeps its model loaded after a run (0: until the module is closed).
ENGINE_IDLE_SETTING = "SALTSegmentation/EngineIdleSeconds"


def settings() -> Any:
    import qt

    return qt.QSettings()


def models_folder_setting() -> Optional[str]:
    return settings().value(MODELS_FOLDER_SETTING) or None


def model_folders_setting() -> tuple[str, ...]:
    value = settings().value(FOLDERS_SETTING) or []
    return tuple([value] if isinstance(value, str) else value)


def engine_idle_setting() -> float:
    """``ENGINE_IDLE_SETTING``, or the engine session's default (also without Qt: headless)."""
    from .engine_session import DEFAULT_IDLE_TIMEOUT

    try:
        return float(settings().value(ENGINE_IDLE_SETTING, DEFAULT_IDLE_TIMEOUT))
    except (ImportError, TypeError, ValueError):
        return DEFAULT_IDLE_TIMEOUT
