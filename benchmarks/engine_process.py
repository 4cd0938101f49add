"""What running the engine in its own process costs the Slicer module, and what keeping it warm
saves: the same CT and model segmented (1) in this process with the model already loaded — the
reference, what the module did before — (2) by a fresh engine process (start, import torch, load
the model, segment, hand the labelmap back through a file), (3) by the same engine process again
(model kept loaded). Prints a markdown table with ratios to (1).

    nice -n 19 python benchmarks/engine_process.py [--ct PATH] [--model ID_OR_FOLDER] [--repeats N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "SALTSegmentation"), str(REPO / "Testing" / "Python")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=REPO.parent / "shared" / "data" / "example_ct_sm.nii.gz")
    parser.add_argument("--model", default="salt-phantom-demo")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from slicer_test_support import install_scripted_module_shim, load_ct, new_scene

    install_scripted_module_shim()
    import SALTSegmentation
    from SALTSegmentationLib.scene.mrml_helpers import remove_node_with_dependents

    scene = new_scene()
    volume = load_ct(scene, args.ct)
    rows: dict[str, list[float]] = {"cold engine process": [], "warm engine process": [], "in-process (reference)": []}
    for _ in range(args.repeats):
        logic = SALTSegmentation.SALTSegmentationLogic()
        for label in ("cold engine process", "warm engine process"):
            started = time.perf_counter()
            node = logic.segment(volume, model=args.model, device="cpu")
            rows[label].append(time.perf_counter() - started)
            remove_node_with_dependents(node)
        assert logic.currentJob.result.model_reused
        logic.shutdownEngine()

    # The reference last: importing torch here would not change the numbers above (other process).
    import SimpleITK as sitk
    from saltseg.inference.pipeline import segment_image
    from saltseg.model.model_io import load_model
    from saltseg.models import resolve_model_dir
    from SALTSegmentationLib.scene.mrml_helpers import sitk_from_volume

    model = load_model(resolve_model_dir(args.model), device="cpu")
    image = sitk_from_volume(volume)
    for _ in range(args.repeats):
        started = time.perf_counter()
        segment_image(image, model)
        rows["in-process (reference)"].append(time.perf_counter() - started)

    reference = statistics.median(rows["in-process (reference)"])
    size = "×".join(map(str, sitk.ReadImage(str(args.ct)).GetSize()))
    print(f"CT {args.ct.name} ({size}), model {args.model}, CPU, median of {args.repeats}\n")
    print("| run | seconds | ratio to in-process |\n|---|---:|---:|")
    for label in ("in-process (reference)", "cold engine process", "warm engine process"):
        median = statistics.median(rows[label])
        print(f"| {label} | {median:.2f} | {median / reference:.2f} |")


if __name__ == "__main__":
    main()
