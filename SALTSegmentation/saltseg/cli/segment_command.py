"""``saltseg segment INPUT -o OUTPUT``: a CT file or DICOM folder to a .seg.nrrd or labelmap."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

from ..analysis.statistics import labelmap_statistics
from ..analysis.subsets import resolve_structures
from ..analysis.tables import check_table_path, write_statistics
from ..errors import OutputError
from ..io.image_io import read_image
from ..model.model_io import load_model
from ..models import resolve_model_dir
from ..inference.pipeline import segment_image
from ..io.preview import write_preview
from ..io.output_check import check_output_locations, refuse_outputs_on_inputs, replaced_note
from ..io.rtstruct import check_rtstruct_request, largest_series_files, write_rtstruct
from ..io.writers import (check_output_path, label_table_path, node_mask_path, output_kind, write_node_mask,
                          write_result)
from .segment_options import add_segment_options, segment_options_from_args
from .progress_bar import StageProgressBar

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment", help="segment a CT into the SALT label tree",
        description="Segment a CT (NIfTI/NRRD/MHA file or DICOM series folder) into a Slicer "
                    ".seg.nrrd or a labelmap (.nii.gz/.nrrd/.mha) with a .labels.json table beside it.",
    )
    parser.add_argument("input", type=Path, help="CT image file or DICOM series folder")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output .seg.nrrd, or labelmap .nii.gz/.nrrd/.mha")
    parser.add_argument("--model", default=None, metavar="ID|DIR",
                        help="registry model id or a folder with model.pt + config.pkl "
                             "(default: the published SALT model, if installed)")
    parser.add_argument("--catalog", type=Path, default=None, help="extra model catalogue JSON file")
    add_segment_options(parser)
    parser.add_argument("--mask", action="append", default=[], metavar="NODE",
                        help="also write the union mask of a tree node, e.g. body,bones,spine "
                             "(repeatable), as <output>.<node>.nii.gz")
    parser.add_argument("--preview", type=Path, default=None, metavar="PNG",
                        help="also write a PNG preview (axial, coronal, sagittal slices with the labels)")
    parser.add_argument("--statistics", type=Path, default=None, metavar="FILE",
                        help="also write every tree node's voxels, volume and CT intensity statistics "
                             "(mean, std, median, min, max, 5th/95th percentile HU) as .csv or .json")
    parser.add_argument("--format", dest="output_format", default="auto", choices=("auto", "rtstruct"),
                        help="auto: from the OUTPUT suffix; rtstruct: a DICOM RT Structure Set (*.rtstruct.dcm) "
                             "referencing the input DICOM series (needs saltseg[rtstruct])")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _is_node(tree, node: str) -> bool:
    try:
        tree.index(node)
    except KeyError:
        return False
    return True


def planned_outputs(output: Path, tree, nodes: list[str], preview: Optional[Path],
                    statistics: Optional[Path] = None) -> list[Path]:
    """Every file the run will write: what the pre-flight check must see (add new outputs here)."""
    outputs = [output]
    if not output.name.lower().endswith(".dcm") and output_kind(output) == "labelmap":
        outputs.append(label_table_path(output))
    outputs += [node_mask_path(output, tree.node_id(node)) for node in nodes]
    outputs += [path for path in (preview, statistics) if path is not None]
    return outputs


def run(args: argparse.Namespace) -> int:
    rtstruct = getattr(args, "output_format", "auto") == "rtstruct"
    # Fail before minutes of work.
    output = check_rtstruct_request(args.input, args.output) if rtstruct else check_output_path(args.output)
    if args.preview is not None and args.preview.suffix.lower() != ".png":
        raise OutputError(f"--preview must name a .png file, got {args.preview.name}")
    if args.statistics is not None:
        check_table_path(args.statistics, "--statistics")
    known_now = [output] + ([args.preview] if args.preview else []) + \
        ([args.statistics] if args.statistics else [])  # the masks' names need the model's tree
    refuse_outputs_on_inputs(known_now, [args.input])
    check_output_locations(known_now)  # before the model loads; everything again below, with the space needed
    model_dir = resolve_model_dir(args.model, catalog_file=args.catalog)
    model = load_model(model_dir, args.device)
    for node in args.mask:
        if not _is_node(model.tree, node):
            raise OutputError(f"--mask {node!r}: no such node in the model's label tree")
    image = read_image(args.input)
    outputs = planned_outputs(output, model.tree, args.mask, args.preview, args.statistics)
    refuse_outputs_on_inputs(outputs, [args.input])
    replaced = check_output_locations(outputs, voxels=image.GetNumberOfPixels())  # before minutes of work
    options = segment_options_from_args(args)
    if options.structures:
        resolve_structures(model.tree, options.structures)  # a typo fails before minutes of work
    with StageProgressBar(enabled=not args.quiet) as bar:
        result = segment_image(image, model, options, progress=bar, model_id=str(args.model or model_dir.name))
    if rtstruct:
        written = [write_rtstruct(result.labelmap, result.tree, largest_series_files(args.input), output,
                                  result.model_id)]
    else:
        written = write_result(result.labelmap, output, result.tree, result.model_id)
    for node in args.mask:
        written.append(write_node_mask(result.node_mask(node), output, result.tree.node_id(node)))
    if args.preview is not None:
        written.append(write_preview(image, result.labelmap, result.tree, args.preview))
    if args.statistics is not None:
        rows = labelmap_statistics(result.labelmap, image, result.tree, result.statistics_nodes())
        written.append(write_statistics(rows, args.statistics, input=str(args.input), model=result.model_id))
    names = ", ".join(entry.name for entry in result.label_table()[:8])
    more = len(result.present_values) - 8
    note = replaced_note(replaced)
    print(f"{len(result.present_values)} structures ({names}{f', … {more} more' if more > 0 else ''}) "
          f"in {sum(result.timings.values()):.1f} s on {model.device}" + (f"; {note}" if note else ""),
          file=sys.stderr)
    for path in written:
        print(path)
    return 0
