"""``saltseg train DATASET... -o OUT``: train a SALT model and export it in the official format."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..device_names import DEVICE_CHOICES
from ..training.network import ARCHITECTURES
from .argtypes import positive_float, positive_int

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a SALT model on datasets in SALT's layout (needs saltseg[train])",
        description="Train a DynUNet with the tree softmax on one or more SALT datasets "
                    "(<dataset>/{tree-labels.txt,train|val/{images,labels}}; several datasets fuse "
                    "into one label tree), then export model.pt + config.pkl into OUT/model. "
                    "OUT also receives checkpoint-last.pt (resume), checkpoint-best.pt and metrics.jsonl.",
    )
    parser.add_argument("datasets", nargs="+", type=Path, help="dataset folders (or folders containing them)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="training output folder")
    parser.add_argument("--steps", type=positive_int, default=2000, help="optimiser steps (default 2000)")
    parser.add_argument("--max-minutes", type=positive_float, default=None,
                        help="time budget: the schedule anneals to finish within it")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="windows per step (default 2)")
    parser.add_argument("--roi", type=positive_int, nargs=3, default=(96, 64, 32), metavar=("X", "Y", "Z"),
                        help="training window size in voxels (default 96 64 32)")
    parser.add_argument("--spacing", type=positive_float, nargs=3, default=(4.0, 4.0, 4.0),
                        metavar=("X", "Y", "Z"), help="model voxel spacing in mm (default 4 4 4)")
    parser.add_argument("--filters", type=positive_int, nargs="+", default=(8, 16, 32, 64),
                        help="DynUNet filters per level (default 8 16 32 64)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="compact",
                        help="compact: a small DynUNet sized by --filters (default); salt: SALT's published "
                             "network (residual blocks, filters 32-320, kernels and strides from nnU-Net's rule "
                             "for --window and --spacing)")
    parser.add_argument("--window", type=positive_int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="the exported model's sliding window (default: --roi); with --architecture salt it "
                             "also sets the network's layout, e.g. 192 192 48 at 1.5 mm for SALT's")
    parser.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate (default 3e-3)")
    parser.add_argument("--dice-weight", type=float, default=1.0, help="weight of the node Dice term (default 1)")
    parser.add_argument("--val-every", type=positive_int, default=250, help="validate every N steps")
    parser.add_argument("--val-cases", type=positive_int, default=4, help="validation cases used")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="compute device")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    parser.add_argument("--no-mixed-precision", dest="mixed_precision", action="store_false",
                        help="train in float32 (default: float16 on CUDA, bfloat16 on CPUs with native bf16)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint-last.pt")
    parser.add_argument("--export-only", action="store_true",
                        help="only export OUT/checkpoint-best.pt (or -last) into OUT/model")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from ..training import TrainConfig

    return TrainConfig(
        datasets=[str(d) for d in args.datasets], output=str(args.output), roi_size=tuple(args.roi),
        spacing=tuple(args.spacing), filters=tuple(args.filters), architecture=args.architecture,
        window=tuple(args.window) if args.window else None, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, dice_weight=args.dice_weight, val_every=args.val_every,
        val_cases=args.val_cases, max_minutes=args.max_minutes, seed=args.seed, device=args.device,
        mixed_precision=args.mixed_precision, threads=args.threads, resume=args.resume or args.export_only,
        progress_bar=not args.quiet,
    )


def run(args: argparse.Namespace) -> int:
    from ..training import Trainer

    trainer = Trainer(config_from_args(args))
    if args.export_only:
        trainer._resume()
        print(trainer.export())
        return 0
    result = trainer.run()
    best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
    print(f"trained {result.step} steps; best validation mean leaf Dice {best}", file=sys.stderr)
    print(result.model_dir)
    return 0
