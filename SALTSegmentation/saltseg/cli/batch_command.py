"""``saltseg batch INPUT [INPUT ...] -o OUTDIR``: a cohort on a Dask cluster, resumable."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import SaltSegError
from ..devices import DEVICE_CHOICES
from ..outputs.formats import FORMATS, format_choices
from .argtypes import non_negative_int, positive_int
from .probability_options import add_probability_arguments, probability_fields
from .segment_options import add_segment_options, segment_options_from_args
from .server_options import add_server_options, server_from_args



def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="segment many CTs on a local or remote Dask cluster, resumably",
        description="Segment every CT of the INPUTs into OUTDIR (mirroring the input layout) with one "
                    "loaded model per Dask worker. A re-run skips the cases already done. Writes "
                    "OUTDIR/manifest.csv (one row per case) and OUTDIR/volumes.csv (every tree node's "
                    "volume per case) and OUTDIR/statistics.csv (volumes and CT intensity statistics).",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="a CT file, a folder (searched recursively: every NIfTI/NRRD/MHA file and every "
                             "DICOM series is a case), or a CSV list with an 'input' (and optional 'case') column")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--model", default=None, metavar="ID|DIR",
                        help="registry model id or a folder with model.pt + config.pkl "
                             "(default: the published SALT model, if installed)")
    parser.add_argument("--catalog", type=Path, default=None, help="extra model catalogue JSON file")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="compute device on the workers (auto: CUDA, then Apple MPS, then CPU)")
    parser.add_argument("--format", dest="output_format", default="seg.nrrd", choices=format_choices(),
                        help="output per case, named CASE + its suffix: " + "; ".join(
                            f"{fmt.name} (*{fmt.suffix}): {fmt.help}" for fmt in FORMATS.values())
                        + " (nii.gz: the labelmap format's earlier name)")
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="submit to a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: start a "
                              "local cluster on this machine)")
    cluster.add_argument("--workers", type=positive_int, default=None, metavar="N",
                         help="local worker processes (default: one per GPU; without GPUs, one per 4 cores, at most 4)")
    cluster.add_argument("--threads-per-worker", type=positive_int, default=1, metavar="T",
                         help="cases one worker segments at the same time, sharing its model (default 1)")
    cluster.add_argument("--max-worker-deaths", type=non_negative_int, default=None, metavar="K",
                         help="times a case may be retried on another worker after its worker died (killed, out "
                              "of memory) before it is recorded as failed (default 2; local cluster only: a "
                              "running scheduler uses its distributed.scheduler.allowed-failures setting)")
    add_segment_options(parser)
    add_probability_arguments(parser)
    add_server_options(parser)
    organize = parser.add_argument_group("existing segmentations")
    organize.add_argument("--organize", action="store_true",
                          help="the INPUTs are segmentations made elsewhere (labelmaps with name tables, .seg.nrrd "
                               "files, TotalSegmentator mask folders): place each in the label tree instead of "
                               "segmenting (no model, no cluster); volumes.csv then holds every node per case")
    organize.add_argument("--scheme", default="auto", metavar="auto|totalsegmentator|cads|salt|snomed|FILE",
                          help="with --organize: how to read the structure names (see saltseg organize)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.organize:
        return _run_organize(args)
    try:
        from ..batch import run_batch  # imports Dask: only when batch is asked for
        from ..batch.runner import BatchInterrupted
    except ModuleNotFoundError as error:
        if error.name not in ("dask", "distributed"):
            raise
        raise SaltSegError("saltseg batch needs Dask distributed: pip install 'saltseg[batch]'") from error

    if not getattr(args, "verbose", False):
        logging.getLogger("distributed").setLevel(logging.WARNING)  # Dask logs every connection at INFO

    server = server_from_args(args)
    try:
        if server is not None:
            records = _run_on_server(args, server)
        else:
            records = run_batch(
                args.inputs, args.output_dir, model=args.model, device=args.device, output_format=args.output_format,
                options=segment_options_from_args(args), workers=args.workers,
                threads_per_worker=args.threads_per_worker, scheduler=args.scheduler,
                allowed_failures=args.max_worker_deaths, catalog=args.catalog, progress=not args.quiet,
                **probability_fields(args),
            )
    except BatchInterrupted as stopped:
        print(f"saltseg batch: {stopped}", file=sys.stderr)
        return 130
    print(args.output_dir / "manifest.csv")
    print(args.output_dir / "volumes.csv")
    print(args.output_dir / "statistics.csv")
    return 1 if any(record.status == "failed" for record in records) else 0


def _run_on_server(args: argparse.Namespace, server):
    from ..batch.remote import run_remote_batch

    if args.scheduler is not None or args.workers is not None:
        raise SaltSegError("--server sends the cases to one SALT server: --scheduler and --workers are for a Dask "
                           "cluster")
    if args.device != "auto" or args.catalog is not None:
        raise SaltSegError("--device and --catalog are the server's to choose with --server")
    return run_remote_batch(args.inputs, args.output_dir, server, model=args.model, output_format=args.output_format,
                            options=segment_options_from_args(args), progress=not args.quiet,
                            **probability_fields(args))


def _run_organize(args: argparse.Namespace) -> int:
    import time

    if args.probabilities or args.confidence:
        raise SaltSegError("--probabilities and --confidence come from segmenting; --organize places existing "
                           "segmentations, which have no probabilities")

    try:  # the batch tables live in saltseg.batch, which imports Dask
        from ..batch.runner import summarize
        from ..organize.cohort import run_organize_batch
    except ModuleNotFoundError as error:
        if error.name not in ("dask", "distributed"):
            raise
        raise SaltSegError("saltseg batch needs Dask distributed: pip install 'saltseg[batch]'") from error

    started = time.perf_counter()
    records = run_organize_batch(args.inputs, args.output_dir, scheme=args.scheme,
                                 output_format=args.output_format, progress=not args.quiet)
    if not args.quiet:
        print(summarize(records, time.perf_counter() - started), file=sys.stderr)
    print(args.output_dir / "manifest.csv")
    print(args.output_dir / "volumes.csv")
    return 1 if any(record.status == "failed" for record in records) else 0
