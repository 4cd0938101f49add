"""Training SALT models on datasets in SALT's layout (needs the ``train`` extra: MONAI).

The names below are imported on first use, so that the CLI can read the training choices
(:mod:`.network`) without importing torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from .data import TrainingDataError, find_datasets, prepare_case
    from .loss import TreeLoss
    from .trainer import TrainConfig, Trainer, TrainResult, train

_EXPORTS = {
    "TrainConfig": ".trainer", "Trainer": ".trainer", "TrainResult": ".trainer", "train": ".trainer",
    "TreeLoss": ".loss", "TrainingDataError": ".data", "find_datasets": ".data", "prepare_case": ".data",
}

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingDataError", "TreeLoss", "find_datasets",
           "prepare_case", "train"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
