"""Checkpoints: everything needed to resume (network, optimiser, scaler, step, elapsed time, RNG)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import torch

from ..atomic import atomic_write
from ..errors import SaltSegError

logger = logging.getLogger(__name__)

LAST = "checkpoint-last.pt"
BEST = "checkpoint-best.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: an interrupted save never leaves a truncated checkpoint behind."""
    atomic_write(path, lambda tmp: torch.save(state, str(tmp)), suffix=".pt")
    logger.debug("checkpoint %s (step %s)", path, state.get("step"))


def load_checkpoint(path: Path) -> Optional[dict[str, Any]]:
    if not path.is_file():
        return None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as error:  # corrupt file: say which, do not guess
        raise SaltSegError(f"cannot read checkpoint {path}: {error}") from error
