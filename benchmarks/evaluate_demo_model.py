"""Score the bundled demo model (or any model folder) on held-out phantoms.

    python benchmarks/evaluate_demo_model.py                      # 10 phantoms, seeds 3000-3009
    python benchmarks/evaluate_demo_model.py --seeds 3000 3001 --spacing 5 --json scores.json
    python benchmarks/evaluate_demo_model.py --compare-fast   # default vs --fast, side by side

Phantoms are generated from seeds never used for training (training used 1000-1063, validation
2000-2003), with the file orientation cycled through LPS, RAS, LPI, RPS, LAS, RAI, PLS, LSP, and
segmented through the production path (``saltseg.inference.pipeline.segment_image``). Prints a per-leaf Dice
table, the mean Dice over the structures (the background leaf is not a structure and never counts)
and the left/right confusion count (a leaf pair counts as confused in a case when more than
1 % of one side's voxels are labelled as the other side).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from saltseg.phantom.geometry import ORIENTATIONS
from saltseg.training.evaluate import evaluate_on_phantoms, markdown_table

DEMO_MODEL = (Path(__file__).resolve().parents[1] / "SALTSegmentation" / "saltseg" / "resources" / "models"
              / "salt-phantom-demo")


def compare_presets(model: Path, seeds, kwargs) -> str:
    """Default options vs ``SegmentOptions.fast()`` on the same phantoms, one after the other."""
    import time

    from saltseg.inference.pipeline import SegmentOptions

    rows = ["| options | seconds (all phantoms, incl. generating them) | mean Dice | worst phantom | "
            "left/right confusions |", "|---|---:|---:|---:|---:|"]
    for name, options in (("default (SALT's windows, overlap 0.5)", SegmentOptions()),
                          ("--fast (overlap 0.25, air windows skipped)", SegmentOptions.fast())):
        started = time.perf_counter()
        evaluation = evaluate_on_phantoms(model, seeds, orientations=ORIENTATIONS, options=options, **kwargs)
        seconds = time.perf_counter() - started
        worst = min(case.mean_dice for case in evaluation.cases)
        rows.append(f"| {name} | {seconds:.1f} | {evaluation.mean_dice:.4f} | {worst:.4f} | "
                    f"{evaluation.left_right_confusions} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL, help="model folder (default: the demo model)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(3000, 3010)))
    parser.add_argument("--spacing", type=float, default=None,
                        help="fixed phantom spacing in mm (default: random, like the training data)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores as JSON")
    parser.add_argument("--compare-fast", action="store_true",
                        help="score the default options and the --fast preset on the same phantoms "
                             "and print them side by side (time, Dice, left/right confusions)")
    parser.add_argument("--training-json", type=Path, default=None,
                        help="merge the held-out scores into this training.json (the demo model's record)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    kwargs = {} if args.spacing is None else {"spacing_range": args.spacing}
    if args.compare_fast:
        print(compare_presets(args.model, args.seeds, kwargs))
        return 0
    evaluation = evaluate_on_phantoms(args.model, args.seeds, orientations=ORIENTATIONS, **kwargs)
    print(markdown_table(evaluation))
    scores = evaluation.to_json()
    if args.json:
        args.json.write_text(json.dumps(scores, indent=1))
    if args.training_json:
        record = json.loads(args.training_json.read_text()) if args.training_json.is_file() else {}
        record["held_out"] = {
            "seeds": args.seeds, "orientations_cycled": list(ORIENTATIONS),
            "spacing": "random (in-plane 2.5-4 mm, slices 2.5-5 mm)" if args.spacing is None else args.spacing,
            "bar": "mean Dice >= 0.90 over the structures present (background excluded), no left/right confusion",
            "bar_met": bool(scores["mean_dice"] >= 0.90 and scores["left_right_confusions"] == 0),
            **scores,
        }
        record["evaluation_command"] = "python benchmarks/evaluate_demo_model.py " + " ".join(
            f"--seeds {' '.join(map(str, args.seeds))}".split())
        args.training_json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
