"""``saltseg demo -o DIR``: the whole pipeline on a synthetic CT, offline, in seconds.

Until a trained demonstration model ships, this runs a hand-written Hounsfield-threshold model
(``saltseg.threshold_model``), not a trained network: it shows every step working end to end and
labels air, fat, soft tissue and bone by intensity only. It is not an anatomical segmentation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import SimpleITK as sitk

from ..atomic import atomic_write
from ..labeltree import LabelTree
from ..model_io import load_model
from ..pipeline import segment_image
from ..synthetic_ct import synthetic_ct
from ..threshold_model import export_threshold_model
from ..writers import write_result
from .progress_bar import StageProgressBar

BANNER = ("NOTE: demo of the pipeline with a hand-written HU-threshold model (air / fat / soft tissue / "
          "bone), not a trained SALT network — the output is not an anatomical segmentation.")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the pipeline offline on a synthetic CT with a threshold model",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the demo files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def demo_tree() -> LabelTree:
    """The published model's tree, shipped with the package."""
    resource = Path(__file__).resolve().parents[1] / "resources" / "saros+totalseg-tree-labels.txt"
    return LabelTree.from_tree_labels_file(resource)


def run(args: argparse.Namespace) -> int:
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    print(BANNER, file=sys.stderr)
    ct_path = out / "synthetic_ct.nii.gz"
    atomic_write(ct_path, lambda tmp: sitk.WriteImage(synthetic_ct(), str(tmp), True), suffix=".nii.gz")
    model_dir = export_threshold_model(out / "threshold-model", demo_tree(),
                                       roi_size=(64, 64, 32), voxel_spacing=(4.0, 4.0, 4.0))
    model = load_model(model_dir, "cpu")
    with StageProgressBar(enabled=not args.quiet) as bar:
        result = segment_image(sitk.ReadImage(str(ct_path)), model, progress=bar, model_id="hu-threshold-demo")
    written = write_result(result.labelmap, out / "synthetic_ct.seg.nrrd", result.tree, result.model_id)
    for entry in result.label_table():
        print(f"  {entry.value:4d}  {entry.name:<28} {entry.node_id}", file=sys.stderr)
    for path in [ct_path, model_dir, *written]:
        print(path)
    return 0
