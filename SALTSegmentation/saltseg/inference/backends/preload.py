"""The first runtime the probe will check, loaded on a thread while the probe's torch work runs.

Hashing ``model.pt`` to find its conversion, reading the ONNX file and compiling it took 0.4–0.5 s
of the ~1 s probe (published architecture, OpenVINO), all of it before the runtime's check; the
probe's torch part (the whole model and the cut on a crop, one thread) takes ~0.3 s meanwhile, and
OpenVINO's loading releases the GIL (measured: torch work beside it ran at full speed). Only a
conversion already on disk is loaded — converting needs the probe. Whatever fails here is left to
the selection, which loads the runtime again the usual way and says what went wrong.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Optional

from .onnx_file import cached_conversion
from .runtimes import RUNTIMES

logger = logging.getLogger(__name__)


class RuntimePreload:
    """Loads runtime ``name`` at ``precision`` for the ``kind`` cut of the model in ``model_dir``."""

    def __init__(self, name: str, precision: str, kind: str, model_dir: Path, threads: int) -> None:
        self.key = (name, precision, kind)
        self._backend: Optional[Any] = None
        self._thread = threading.Thread(target=self._load, args=(model_dir, threads), daemon=True,
                                        name="saltseg-runtime-load")
        self._thread.start()

    def _load(self, model_dir: Path, threads: int) -> None:
        name, precision, kind = self.key
        try:
            path = cached_conversion(model_dir, kind)
            if path is not None:
                self._backend = RUNTIMES[name](path, threads, precision)
        except Exception as error:  # noqa: BLE001 - the selection loads it again and reports
            logger.debug("preloading %s %s failed: %s", name, precision, error)

    def take(self, name: str, precision: str, kind: str) -> Optional[Any]:
        """The loaded runtime when it is the one asked for, once (waits for the loading); else None."""
        self._thread.join()
        if (name, precision, kind) != self.key:
            return None
        backend, self._backend = self._backend, None
        return backend


def preload_first_runtime(names: list[str], model_dir: Optional[Path], kind: str, precision: str,
                          threads: int) -> Optional[RuntimePreload]:
    """Start loading the runtime the selection tries first (see
    :func:`saltseg.inference.backends.select.candidates`: the first of the ONNX runtimes ``names``,
    at ``precision``); None where there is none to try or no model folder to find its conversion in."""
    if not names or model_dir is None:
        return None
    return RuntimePreload(names[0], precision, kind, model_dir, threads)
