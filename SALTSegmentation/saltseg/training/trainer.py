"""The training loop: SALT datasets in, an official-format model (model.pt + config.pkl) out.

``train(TrainConfig(...))`` prepares the cases with the inference preprocessing, trains a DynUNet
with the tree softmax and :class:`~saltseg.training.loss.TreeLoss` on random windows, validates
with the engine's own sliding-window inference (Dice per tree node), keeps ``checkpoint-last.pt``
(resume) and ``checkpoint-best.pt`` (best mean leaf Dice), logs ``metrics.jsonl`` and exports the
best network with :func:`saltseg.model.export.export_model` into ``<output>/model``.

The learning rate follows a cosine schedule over the *progress* ``max(step / steps, elapsed /
time budget)``, so a run limited by ``max_minutes`` still anneals and ends with a usable model.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence, cast

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import SaltSegError
from ..inference.backends.cpu_features import cpu_bf16
from ..inference.sliding_window import WindowSettings, sliding_window_labels
from ..model.export import export_model
from ..tree.labeltree import LabelTree
from ..tree.tree_softmax import TreeSoftmax
from .checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from .data import PreparedCase, find_datasets, prepare_case
from .loss import TreeLoss
from .metrics import confusion, mean_leaf_dice, node_dice
from .network import ARCHITECTURES, Layout, build_dynunet, build_salt_dynunet, compact_layout, downsampling, salt_layout
from .sampler import PatchSampler

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    datasets: list[str]
    output: str
    roi_size: tuple[int, int, int] = (96, 64, 32)
    spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)
    filters: tuple[int, ...] = (8, 16, 32, 64)
    architecture: str = "compact"  # or "salt": see training.network.ARCHITECTURES
    window: Optional[tuple[int, int, int]] = None  # the exported model's window; default roi_size
    steps: int = 2000
    batch_size: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-5
    dice_weight: float = 1.0
    balanced: float = 0.6
    val_every: int = 250
    val_cases: int = 4
    checkpoint_every: int = 25
    log_every: int = 10
    max_minutes: Optional[float] = None
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True
    threads: Optional[int] = None
    resume: bool = False
    progress_bar: bool = True
    extra: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    model_dir: Path
    step: int
    best_metric: Optional[float]
    val_dice: dict


def _lr(config: TrainConfig, progress: float) -> float:
    warmup = 0.02
    if progress < warmup:
        return config.lr * (0.1 + 0.9 * progress / warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return config.lr * (0.02 + 0.98 * cosine)


class Trainer:
    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.output = Path(config.output)
        self.output.mkdir(parents=True, exist_ok=True)
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self.device = resolve_device(config.device)
        self.window = tuple(config.window or config.roi_size)
        self.layout = network_layout(config)
        factors = downsampling(self.layout[1])
        for name, size in (("training window", config.roi_size), ("model window", self.window)):
            if any(axis % factor for axis, factor in zip(size, factors)):
                raise SaltSegError(f"{name} {list(size)} must be divisible by {factors} (the network's downsampling)")
        self.data = find_datasets(config.datasets)
        self.tree: LabelTree = self.data.tree
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.network = build_network(config, len(self.tree), self.layout).to(self.device)
        self.loss = TreeLoss(self.tree, config.dice_weight).to(self.device)
        self.softmax = TreeSoftmax(self.tree).to(self.device)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.amp = config.mixed_precision and self.device.type == "cuda"
        # bf16 on CPUs that compute it natively: about twice float32's speed, no loss scaling needed
        self.cpu_bf16 = config.mixed_precision and self.device.type == "cpu" and cpu_bf16().native
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step, self.elapsed = 0, 0.0
        self.best: Optional[float] = None
        self.val_dice: dict = {}
        self.log = self.output / "metrics.jsonl"

    # ---------------------------------------------------------------- data
    def _prepare(self, split: str, limit: Optional[int] = None) -> list[PreparedCase]:
        cases = self.data.cases(split)[:limit]
        prepared = []
        for i, case in enumerate(cases):
            prepared.append(prepare_case(case, self.config.spacing))
            logger.info("prepared %s %d/%d", split, i + 1, len(cases))
        return prepared

    # ---------------------------------------------------------------- state
    def _state(self) -> dict:
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "step": self.step, "elapsed": self.elapsed,
                "best": self.best, "val_dice": self.val_dice, "tree": [list(p) for p in self.tree.paths],
                "config": _jsonable(asdict(self.config)), "rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state()}

    def _resume(self) -> None:
        state = load_checkpoint(self.output / LAST)
        if state is None:
            logger.info("no %s in %s: starting from scratch", LAST, self.output)
            return
        if [tuple(p) for p in state["tree"]] != list(self.tree.paths):
            raise SaltSegError(f"{self.output / LAST} was trained on a different label tree; "
                               "use another output folder")
        trained = state.get("config", {}).get("architecture", "compact")
        if trained != self.config.architecture:
            raise SaltSegError(f"{self.output / LAST} holds a {trained!r} network, not {self.config.architecture!r}; "
                               "use another output folder or the same --architecture")
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed, self.best = state["step"], state["elapsed"], state["best"]
        self.val_dice = state.get("val_dice", {})
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        logger.info("resumed at step %d (%.1f min trained)", self.step, self.elapsed / 60)

    def _write_log(self, record: dict) -> None:
        with self.log.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")

    # ---------------------------------------------------------------- validation
    def validate(self, cases: Sequence[PreparedCase]) -> tuple[float, dict]:
        """Mean leaf Dice over the validation cases, through the engine's sliding window."""
        self.network.eval()
        counts: Optional[np.ndarray] = None
        settings = WindowSettings(roi_size=cast("tuple[int, int, int]", self.window), overlap=0.25,
                                  batch_size=2,
                                  mixed_precision=self.amp)
        leaves = torch.as_tensor(self.tree.leaves, dtype=torch.long)
        background = self.tree.background_value or 0

        def predictor(x):
            with _autocast(False, self.cpu_bf16):  # CUDA's autocast is the sliding window's own
                logits = self.network(x)
            return self.softmax(logits.float())

        for case in cases:
            labels = sliding_window_labels(case.image, predictor, leaves, len(self.tree), settings,
                                           self.device, background_value=background)
            c = confusion(self.tree, case.target, labels)
            counts = c if counts is None else counts + c
        self.network.train()
        assert counts is not None  # validation runs with cases only
        dice = node_dice(self.tree, counts)
        present = [self.tree.node_id(n) for n in range(len(self.tree)) if counts[n].sum() > 0]
        return mean_leaf_dice(self.tree, dice, present), dice

    # ---------------------------------------------------------------- loop
    def _progress(self) -> float:
        budget = self.config.max_minutes
        by_time = self.elapsed / (budget * 60) if budget else 0.0
        return max(self.step / self.config.steps, by_time)

    def run(self) -> TrainResult:
        config = self.config
        if config.resume:
            self._resume()
        train_cases = self._prepare("train")
        val_cases = self._prepare("val", config.val_cases)
        sampler = PatchSampler(train_cases, config.roi_size, self.rng, config.balanced)
        self.network.train()
        bar = _progress_bar(config, self.step)
        started, last_save = time.perf_counter() - self.elapsed, self.step
        previous_handler = _stop_on_sigterm()
        try:
            while self._progress() < 1.0:
                lr = _lr(config, self._progress())
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                image_batch, target_batch = sampler.batch(config.batch_size)
                images = torch.from_numpy(image_batch).to(self.device)
                targets = torch.from_numpy(target_batch).to(self.device)
                with _autocast(self.amp, self.cpu_bf16):
                    logits = self.network(images)
                loss, parts = self.loss(logits.float(), targets)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                loss_value = float(loss.detach())
                self.step += 1
                self.elapsed = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}", dice=f"{parts['dice']:.3f}")
                if self.step % config.log_every == 0:
                    self._write_log({"step": self.step, "loss": loss_value, **parts, "lr": lr,
                                     "elapsed_s": round(self.elapsed, 1)})
                if val_cases and self.step % config.val_every == 0:
                    self._validate_and_keep_best(val_cases)
                if self.step - last_save >= config.checkpoint_every:
                    save_checkpoint(self.output / LAST, self._state())
                    last_save = self.step
        except KeyboardInterrupt:
            logger.warning("stopped at step %d: saving a checkpoint (continue with --resume)", self.step)
            save_checkpoint(self.output / LAST, self._state())
            raise
        finally:
            bar.close()
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
        if val_cases and self.step % config.val_every != 0:
            self._validate_and_keep_best(val_cases)
        save_checkpoint(self.output / LAST, self._state())
        return TrainResult(self.export(), self.step, self.best, self.val_dice)

    def _validate_and_keep_best(self, val_cases: Sequence[PreparedCase]) -> None:
        metric, dice = self.validate(val_cases)
        self._write_log({"step": self.step, "val_mean_leaf_dice": metric, "val_dice": dice,
                         "elapsed_s": round(self.elapsed, 1)})
        logger.info("step %d: validation mean leaf Dice %.4f", self.step, metric)
        if self.best is None or metric > self.best:
            self.best, self.val_dice = metric, dice
            save_checkpoint(self.output / BEST, {"network": self.network.state_dict(), "step": self.step,
                                                 "best": metric, "val_dice": dice})

    def export(self, model_dir: Optional[Path] = None) -> Path:
        """Export the best checkpoint (or the current network) in the official format."""
        best = load_checkpoint(self.output / BEST)
        network = build_network(self.config, len(self.tree), self.layout)
        network.load_state_dict(best["network"] if best else self.network.state_dict())
        kernels, strides = self.layout
        recipe = _jsonable(asdict(self.config))
        args = argparse.Namespace(exported_by="saltseg train", step=int(best["step"] if best else self.step),
                                  **{k: v for k, v in recipe.items() if k not in ("extra", "progress_bar")})
        return export_model(network.cpu().eval(), self.tree, model_dir or self.output / "model",
                            self.window, self.config.spacing, None, kernels, strides, args)


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) and export; see :class:`TrainConfig` for the knobs."""
    return Trainer(config).run()


def _stop_on_sigterm():
    """Turn SIGTERM (``kill``, job schedulers) into the Ctrl-C path, which saves a checkpoint;
    background jobs started from a shell ignore SIGINT, so Ctrl-C alone is not enough."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def network_layout(config: TrainConfig) -> Layout:
    """Kernel sizes and strides of the network ``config`` describes."""
    if config.architecture == "salt":
        return salt_layout(config.window or config.roi_size, config.spacing)
    if config.architecture != "compact":
        raise SaltSegError(f"unknown architecture {config.architecture!r}: choose one of {', '.join(ARCHITECTURES)}")
    return compact_layout(config.filters)


def build_network(config: TrainConfig, num_classes: int, layout: Layout) -> torch.nn.Module:
    if config.architecture == "salt":
        return build_salt_dynunet(num_classes, layout)
    return build_dynunet(num_classes, config.filters)


def _autocast(cuda_fp16: bool, cpu_bf16: bool = False):
    if cuda_fp16:
        return torch.autocast("cuda", dtype=torch.float16)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _progress_bar(config: TrainConfig, initial: int):
    from tqdm import tqdm

    return tqdm(total=config.steps, initial=initial, disable=not config.progress_bar, unit="step",
                desc="training", dynamic_ncols=True)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
