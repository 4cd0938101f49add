"""Training SALT models on datasets in SALT's layout (needs the ``train`` extra: MONAI)."""
from .data import TrainingDataError, find_datasets, prepare_case
from .loss import TreeLoss
from .trainer import TrainConfig, Trainer, TrainResult, train

__all__ = ["TrainConfig", "Trainer", "TrainResult", "TreeLoss", "TrainingDataError", "find_datasets",
           "prepare_case", "train"]
