"""What every Slicer start-up pays for the SALTSegmentation module: the module file executed, its
module object created and its ``startupCompleted`` slots run (sample data, terminology), in a
fresh interpreter each time (Testing/Python/slicer_test_support.STARTUP_SCRIPT, real slicer-core
MRML and terminology logic). Prints the modules that registration imported and the wall time
(median of ``--repeats`` fresh processes).

    nice -n 19 python benchmarks/module_startup.py [--module-dir OTHER_CHECKOUT/SALTSegmentation]

``--module-dir`` measures another checkout (e.g. the commit before a change) with the same script.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "Testing" / "Python"
sys.path[:0] = [str(TESTS)]
HEAVY = ("saltseg", "SimpleITK", "numpy", "scipy", "torch")


def measure(module_dir: Path) -> dict:
    from slicer_test_support import STARTUP_SCRIPT

    # The test support puts this repository's module folder first unless it is on the path already.
    paths = [str(module_dir), str(REPO / "SALTSegmentation"), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    with tempfile.TemporaryDirectory() as cache:
        run = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT.replace("sys.path.insert(0, sys.argv[1])",
                                                                           "sys.path.insert(1, sys.argv[1])"),
                              str(TESTS), cache], capture_output=True, text=True, env=env, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module-dir", type=Path, default=REPO / "SALTSegmentation")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = [measure(args.module_dir.resolve()) for _ in range(args.repeats)]
    imported = runs[0]["imported"]
    heavy = sorted({name.split(".")[0] for name in imported if name.split(".")[0] in HEAVY})
    library = [name for name in imported if name.startswith(("SALTSegmentation", "saltseg"))]
    print("| module dir | modules imported | of them module/engine | heavy packages | "
          f"registration s (median of {args.repeats}) |")
    print("|---|---:|---:|---|---:|")
    print(f"| {args.module_dir} | {len(imported)} | {len(library)} | {', '.join(heavy) or 'none'} | "
          f"{statistics.median(r['seconds'] for r in runs):.3f} |")


if __name__ == "__main__":
    main()
