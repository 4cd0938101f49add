"""``saltseg demo -o DIR``: the whole workflow offline, in seconds.

Generates a CT phantom (or takes ``--input``), segments it with the demonstration model that ships
inside the package (``salt-phantom-demo``: trained on phantoms only, never for clinical use), and
writes the CT, a Slicer ``.seg.nrrd`` and a PNG preview. For a phantom it also scores the result
against the phantom's own labels (Dice per structure, left/right swaps).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_write
from ..devices import DEVICE_CHOICES
from ..io.image_io import read_image
from ..model.model_io import load_model
from ..models import resolve_model_dir
from ..models.catalog import DEMO_MODEL_ID
from ..inference.pipeline import SegmentOptions, segment_image
from ..io.preview import write_preview
from ..io.writers import write_result, write_with_sitk
from .argtypes import non_negative_int
from .progress_bar import StageProgressBar

#: a phantom seed never used to train or validate the demo model (see its training.json)
DEFAULT_SEED = 3000
BANNER = ("NOTE: demonstration model trained on synthetic phantoms only — not for clinical use; "
          "it has never seen a real CT.")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="segment a phantom (or --input CT) with the bundled demo model, offline",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the demo files")
    parser.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED,
                        help=f"phantom to generate (default {DEFAULT_SEED}, held out from training)")
    parser.add_argument("--input", type=Path, help="segment this CT (file or DICOM folder) instead of a phantom")
    parser.add_argument("--model", default=DEMO_MODEL_ID, help=f"model id or folder (default {DEMO_MODEL_ID})")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model_dir = resolve_model_dir(args.model)
    model = load_model(model_dir, args.device)
    print(BANNER, file=sys.stderr)
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    phantom = None
    if args.input is not None:
        image = read_image(args.input)
        name = _stem(args.input)
        written = []
    else:
        from ..phantom import generate_phantom

        phantom = generate_phantom(args.seed)
        image, name = phantom.image, f"phantom_{args.seed:05d}"
        written = [_write_image(phantom.image, out / f"{name}.nii.gz"),
                   _write_image(phantom.labels, out / f"{name}_truth.nii.gz")]
    with StageProgressBar(enabled=not args.quiet) as bar:
        # Every model runs with the window placement it was certified with (its inference.json):
        # flush for the demo model, SALT's own for SALT's models.
        options = SegmentOptions()
        result = segment_image(image, model, options, progress=bar, model_id=str(args.model))
    written += write_result(result.labelmap, out / f"{name}.seg.nrrd", result.tree, result.model_id)
    written.append(write_preview(image, result.labelmap, result.tree, out / f"{name}_preview.png"))
    print(f"{len(result.present_values)} structures in {sum(result.timings.values()):.1f} s on {model.device}",
          file=sys.stderr)
    if phantom is not None:
        _report_scores(result.tree, phantom, result.labelmap)
    for path in written:
        print(path)
    return 0


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name or "input"


def _write_image(image: sitk.Image, path: Path) -> Path:
    return atomic_write(path, lambda tmp: write_with_sitk(image, tmp), suffix=".nii.gz")


def _report_scores(tree, phantom, labelmap: sitk.Image) -> None:
    """Print Dice against the phantom's labels and any left/right swap (stderr)."""
    from ..training.evaluate import score_phantom

    leaf_dice, left_right = score_phantom(tree, phantom, labelmap)
    worst = sorted(leaf_dice.items(), key=lambda item: item[1])[:3]
    swaps = [item for item in left_right if item["confused"]]
    print(f"against the phantom's own labels: mean Dice {np.mean(list(leaf_dice.values())):.3f} over "
          f"{len(leaf_dice)} structures (lowest: "
          + ", ".join(f"{tree.display_name(k)} {v:.2f}" for k, v in worst) + "); "
          + ("left/right swaps: none" if not swaps else
             "left/right swaps: " + ", ".join(f"{s['truth']}→{s['predicted']} {s['voxels']} voxels" for s in swaps)),
          file=sys.stderr)
