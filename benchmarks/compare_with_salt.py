#!/usr/bin/env python
"""Run SALT's own inference pipeline and ours on the same model and CT, and compare them.

SALT's side is the logic of ``salt/predict.py`` executed piece by piece on the CPU (their script
hard-codes ``.cuda()``), with the functions imported from a SALT checkout given by ``--salt-repo``:

* ``salt.input_pipeline.get_validation_transforms(spacing=config voxel_spacing, info=None,
  intensity_properties=None)`` (LoadImaged, Orientationd LPI, Spacingd bilinear, ScaleIntensityRanged),
* ``salt.utils.inference.sliding_window_inference_with_reduction`` with roi from the config,
  ``sw_batch_size=2``, ``overlap=0.5``, ``mode="gaussian"``, ``cval`` from the config and
  ``reduction_fn=partial(salt.predict.argmax_leaves, adjacency_matrix=config["adjacency_matrix"])``,
* ``salt.input_pipeline.get_postprocess_transforms(output_dir)``: KeepLargestConnectedComponentd
  and SaveImaged (which, on MONAI 1.x, writes the labels on the 1.5 mm / processing grid; we read
  that file back and nearest-neighbour resample it onto the input grid to compare voxel for voxel).

Ours is ``saltseg.inference.pipeline.segment_image``. Each pipeline runs in its own subprocess so that its
wall time and peak RSS (VmHWM, the per-process high-water mark) are measured in isolation.

The model is exported with ``saltseg.model.export.export_model`` (traced + frozen
``Sequential(network, TreeSoftmax)``): ``ThresholdNetwork`` (HU thresholds → tree logits) plus a
seeded random ``Conv3d`` perturbation, so that the output is spatially varying, depends on the
window context at window borders (zero padding of the convolution) and many leaves appear. By
default the tree softmax inside ``model.pt`` is an equivalent dense-matrix form (checked against
``saltseg.tree.tree_softmax.TreeSoftmax`` at build time; exported with ``outputs_probabilities=True``),
which ran faster than the scatter-based TreeSoftmax for the small default windows on this shared
CPU (not for [2, 145, 192, 192, 48] windows, where it is ~1.6× slower);
``--exporter-tree-softmax`` exports the exporter's own ``Sequential(network, TreeSoftmax)``.
Both pipelines always run the very same ``model.pt``.

After the end-to-end comparison, the differences are attributed on the processing grid by running
SALT's sliding window on OUR preprocessed volume with its differences removed one at a time
(cumulatively): its extra cleared slice, its z padding to a multiple of the window depth, and its
Gaussian importance map. These variants are built at run time by patching the source text of SALT's
module in memory (nothing of SALT is copied into this repository or modified on disk).

Shims for MONAI 1.6 (done here, not in SALT's code): ``LoadImaged`` no longer returns an
``image_meta_dict`` (``image_only=True`` by default), so the post-processing gets the MetaTensor's
``.meta`` under that key; ``pandas`` (used by predict.py only to write a CSV) is stubbed if absent.
MONAI needs ``nibabel`` (NIfTI I/O) and ``scikit-image`` (KeepLargestConnectedComponent) for
SALT's side: ``pip install nibabel scikit-image``.

Example::

    mkdir -p /tmp/salt_ref && git -C /path/to/SALT archive HEAD salt | tar -x -C /tmp/salt_ref
    nice -n 19 python benchmarks/compare_with_salt.py --salt-repo /tmp/salt_ref
    nice -n 19 python benchmarks/compare_with_salt.py --salt-repo /tmp/salt_ref --preset real
"""
from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import time
import types
from functools import partial
from pathlib import Path

import numpy as np

from process_memory import peak_rss_mb, rss_mb

HERE = Path(__file__).resolve().parent
DEFAULT_CT = HERE.parent.parent / "shared" / "data" / "example_ct.nii.gz"
DEFAULT_TREE = HERE.parent.parent / "shared" / "data" / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"
PRESETS = {
    # name: (roi, spacing)
    "small": ((64, 64, 32), (2.5, 2.5, 2.5)),
    "real": ((192, 192, 48), (1.5, 1.5, 1.5)),
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _shim_scan_interval() -> None:
    """MONAI ≥ 1.4's ``_get_scan_interval`` takes one overlap per axis; SALT passes a float."""
    import monai.inferers.utils as monai_utils

    original = monai_utils._get_scan_interval
    if getattr(original, "_salt_shim", False):
        return

    def scan_interval(image_size, roi_size, num_spatial_dims, overlap):
        if isinstance(overlap, (int, float)):
            overlap = (float(overlap),) * num_spatial_dims
        return original(image_size, roi_size, num_spatial_dims, overlap)

    scan_interval._salt_shim = True
    monai_utils._get_scan_interval = scan_interval


def _import_salt(salt_repo: str):
    """Import SALT's pipeline pieces from a checkout (pandas stubbed: predict.py only writes a CSV)."""
    if salt_repo not in sys.path:
        sys.path.insert(0, salt_repo)
    try:
        import pandas  # noqa: F401
    except ImportError:
        sys.modules["pandas"] = types.ModuleType("pandas")
    _shim_scan_interval()
    import salt.input_pipeline as input_pipeline
    import salt.predict as predict
    import salt.utils.inference as inference

    return input_pipeline, predict, inference


def _salt_window_variant(inference_module, fix_extra_slice=False, no_z_padding=False, our_gaussian=False):
    """SALT's ``sliding_window_inference_with_reduction`` with selected differences removed.

    Built by patching the function's source text in memory; asserts that every patched snippet is
    found exactly once, so a changed upstream file fails loudly instead of silently."""
    source = inspect.getsource(inference_module)
    patches = []
    if fix_extra_slice:
        patches.append(("slice(-actual_step_size - 1, None)", "slice(-actual_step_size, None)"))
    if no_z_padding:
        patches.append(("    outer_dim_pad = None\n    if (", "    outer_dim_pad = None\n    if False and ("))
    for old, new in patches:
        if source.count(old) != 1:
            raise RuntimeError(f"cannot patch SALT's sliding window: {old!r} found {source.count(old)} times")
        source = source.replace(old, new)
    module = types.ModuleType("salt_inference_variant")
    module.__file__ = inference_module.__file__
    exec(compile(source, inference_module.__file__, "exec"), module.__dict__)
    if our_gaussian:
        from saltseg.inference.window_placement import gaussian_importance

        def importance(patch_size, mode, sigma_scale, device):
            return gaussian_importance(tuple(patch_size), float(sigma_scale), torch_device(device))

        module.compute_importance_map = importance
    return module.sliding_window_inference_with_reduction


def torch_device(device):
    import torch

    return torch.device(device)


def _cval(config) -> float:
    ip = config["intensity_properties"]
    return (-1024 - ip["mean"]) / ip["std"] if ip is not None else 0.0


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
def build_model(tree_file: Path, out_dir: Path, roi, spacing, seed: int, amplitude: float,
                threshold_scale: float, dense_softmax: bool = True) -> Path:
    import torch
    from torch import nn

    from saltseg.model.export import export_model
    from saltseg.tree.labeltree import LabelTree
    from saltseg.model.threshold_model import ThresholdNetwork

    tree = LabelTree.from_tree_labels_file(tree_file)

    class PerturbedThreshold(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = ThresholdNetwork(tree, scale=threshold_scale)
            generator = torch.Generator().manual_seed(seed)
            self.conv = nn.Conv3d(1, len(tree), kernel_size=3, padding=1)
            with torch.no_grad():
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * amplitude)
                self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=generator) * amplitude)

        def forward(self, x):
            return self.base(x) + self.conv(x)

    class DenseTreeSoftmax(nn.Module):
        """Tree softmax as two dense [N×N] channel products (sibling sums, ancestor path sums):
        the same probabilities as saltseg's TreeSoftmax (to ~1e-6)."""

        def __init__(self) -> None:
            super().__init__()
            n = len(tree)
            group = torch.as_tensor(tree.group_index())
            self.register_buffer("siblings", (group[:, None] == group[None, :]).float())
            path = torch.zeros(n, n)  # path[a, n] = 1 if a is n or an ancestor of n
            for node in range(n):
                path[list(tree.ancestors(node)) + [node], node] = 1.0
            self.register_buffer("path", path)

        def forward(self, logits):
            x = logits - logits.amax(dim=1, keepdim=True)
            group_sum = torch.einsum("bm...,mn->bn...", torch.exp(x), self.siblings)
            log_conditional = x - torch.log(group_sum)
            return torch.exp(torch.einsum("bm...,mn->bn...", log_conditional, self.path))

    torch.manual_seed(seed)
    if not dense_softmax:
        return export_model(PerturbedThreshold(), tree, out_dir, roi, spacing)
    network = nn.Sequential(PerturbedThreshold(), DenseTreeSoftmax())
    from saltseg.tree.tree_softmax import TreeSoftmax

    with torch.no_grad():  # check the dense form against saltseg's TreeSoftmax once
        probe = torch.rand(1, 1, 24, 24, 8)
        logits = network[0](probe)
        assert torch.allclose(network[1](logits), TreeSoftmax(tree)(logits), atol=1e-4)
    return export_model(network, tree, out_dir, roi, spacing, outputs_probabilities=True)


# --------------------------------------------------------------------------------------------
# workers (each run in its own process)
# --------------------------------------------------------------------------------------------
def worker_salt(args) -> dict:
    import pickle

    import torch
    from monai.transforms.utils import allow_missing_keys_mode

    input_pipeline, predict, inference = _import_salt(args.salt_repo)
    with open(Path(args.model) / "config.pkl", "rb") as f:
        config = pickle.load(f)
    model = torch.jit.load(str(Path(args.model) / "model.pt"), map_location="cpu")
    model.eval()
    torch._C._jit_set_profiling_executor(False)  # as predict.py
    baseline = rss_mb()
    timings = {}

    start = time.perf_counter()
    pre_processing = input_pipeline.get_validation_transforms(
        spacing=config["model"]["voxel_spacing"], info=None, intensity_properties=None)
    with allow_missing_keys_mode(pre_processing):
        example = pre_processing({"image": args.ct})
    timings["load+preprocessing"] = time.perf_counter() - start

    start = time.perf_counter()
    with torch.no_grad():  # predict.py: torch.cuda.amp.autocast() too, a no-op on the CPU
        pred = inference.sliding_window_inference_with_reduction(
            inputs=example["image"].unsqueeze(0),
            roi_size=config["model"]["roi_size"],
            sw_batch_size=2,
            predictor=model,
            progress=False,
            overlap=0.5,
            mode="gaussian",
            cval=_cval(config),
            reduction_fn=partial(predict.argmax_leaves, adjacency_matrix=config["adjacency_matrix"]),
        ).cpu().to(torch.int64)
    timings["inference"] = time.perf_counter() - start
    raw = np.asarray(pred[0]).astype(np.uint8)

    start = time.perf_counter()
    out_dir = Path(args.out) / "salt_saved"
    # MONAI 1.6 shim: no image_meta_dict from LoadImaged(image_only=True); SaveImage uses the
    # MetaTensor's own meta anyway.
    result = input_pipeline.get_postprocess_transforms(output_dir=out_dir)(
        {"pred": pred, "image_meta_dict": example["image"].meta})
    timings["postprocessing"] = time.perf_counter() - start
    saved = sorted(out_dir.rglob("*_pred.nii.gz"))
    np.save(Path(args.out) / "salt_raw.npy", raw)
    np.save(Path(args.out) / "salt_post.npy", np.asarray(result["pred"][0]).astype(np.uint8))
    np.save(Path(args.out) / "salt_image.npy", np.asarray(example["image"][0], dtype=np.float32))
    np.save(Path(args.out) / "salt_affine.npy", np.asarray(example["image"].affine, dtype=np.float64))
    return {"timings": timings, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(),
            "saved": str(saved[0]) if saved else None}


def worker_ours(args) -> dict:
    import SimpleITK as sitk

    from saltseg.model.model_io import load_model
    from saltseg.inference.pipeline import SegmentOptions, segment_image

    model = load_model(args.model, "cpu")
    baseline = rss_mb()
    start = time.perf_counter()
    image = sitk.ReadImage(args.ct)
    load = time.perf_counter() - start
    result = segment_image(image, model, SegmentOptions(overlap=0.5, batch_size=2, largest_component=True))
    timings = {"load": load, **result.timings}
    sitk.WriteImage(result.labelmap, str(Path(args.out) / "ours.nii.gz"))
    return {"timings": timings, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}


def worker_attribution(args) -> dict:
    """Runs on the processing grid, in one process: our preprocessing vs SALT's, SALT's window
    variants on our preprocessed volume, and the connected-component step on identical input."""
    import pickle

    import SimpleITK as sitk
    import torch
    from monai.transforms import KeepLargestConnectedComponent

    from saltseg.model.model_io import load_model
    from saltseg.inference.pipeline import SegmentOptions  # noqa: F401  (documents the defaults used)
    from saltseg.inference.postprocess import keep_largest_component
    from saltseg.inference.preprocess import prepare_volume
    from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels

    _, predict, inference = _import_salt(args.salt_repo)
    model = load_model(args.model, "cpu")
    with open(Path(args.model) / "config.pkl", "rb") as f:
        config = pickle.load(f)
    tree = model.config.tree
    leaves = torch.as_tensor(tree.leaves, dtype=torch.long)
    prepared = prepare_volume(sitk.ReadImage(args.ct), model.config.voxel_spacing, model.config.intensity)
    out = {}

    salt_image = np.load(Path(args.out) / "salt_image.npy")
    out["prep_shape_ours"] = list(prepared.array.shape)
    out["prep_shape_salt"] = list(salt_image.shape)
    if salt_image.shape == prepared.array.shape:
        diff = np.abs(salt_image - prepared.array)
        out["prep_max_abs_diff"] = float(diff.max())
        out["prep_mean_abs_diff"] = float(diff.mean())
        out["prep_voxels_diff_gt_1e-4"] = int((diff > 1e-4).sum())
    # our grid as a RAS affine (MONAI/nibabel convention) vs SALT's
    g = prepared.grid
    direction = np.array(g.direction).reshape(3, 3)
    lps_affine = np.eye(4)
    lps_affine[:3, :3] = direction * np.array(g.spacing)[None, :]
    lps_affine[:3, 3] = g.origin
    ras_affine = np.diag([-1, -1, 1, 1]) @ lps_affine
    out["affine_max_abs_diff"] = float(np.abs(ras_affine - np.load(Path(args.out) / "salt_affine.npy")).max())

    settings = WindowSettings(roi_size=model.config.roi_size, overlap=0.5, batch_size=2,
                              pad_value=model.config.background_intensity, mixed_precision=False)
    timer = time.perf_counter()
    ours_raw = sliding_window_labels(prepared.array, model.network, leaves, len(tree), settings, model.device)
    out["ours_window_seconds"] = time.perf_counter() - timer
    np.save(Path(args.out) / "ours_raw.npy", ours_raw.astype(np.uint8))

    inputs = torch.from_numpy(prepared.array)[None, None]
    reduction = partial(predict.argmax_leaves, adjacency_matrix=config["adjacency_matrix"])
    variants = [
        ("SALT as published", {}),
        ("- extra cleared slice", {"fix_extra_slice": True}),
        ("- z padding to multiple of roi_z", {"fix_extra_slice": True, "no_z_padding": True}),
        ("- MONAI Gaussian → ours", {"fix_extra_slice": True, "no_z_padding": True, "our_gaussian": True}),
        # single factors left in (the other two removed), so each one's own effect shows
        ("only the extra cleared slice left", {"no_z_padding": True, "our_gaussian": True}),
        ("only the z padding left", {"fix_extra_slice": True, "our_gaussian": True}),
        ("only MONAI's Gaussian left", {"fix_extra_slice": True, "no_z_padding": True}),
    ]
    ladder = []
    for name, flags in variants:
        function = _salt_window_variant(inference, **flags)
        with torch.no_grad():
            labels = function(inputs=inputs, roi_size=config["model"]["roi_size"], sw_batch_size=2,
                              predictor=model.network, overlap=0.5, mode="gaussian",
                              cval=_cval(config), reduction_fn=reduction)
        labels = np.asarray(labels[0]).astype(np.uint8)
        ladder.append({"variant": name, "voxels_diff_vs_ours": int((labels != ours_raw).sum())})
        if not flags:
            salt_raw_on_our_prep = labels
    out["ladder"] = ladder
    out["total_voxels"] = int(ours_raw.size)

    # Preprocessing effect alone: SALT's window code on SALT's vs on our preprocessed volume.
    salt_raw = np.load(Path(args.out) / "salt_raw.npy")
    if salt_raw.shape == salt_raw_on_our_prep.shape:
        out["prep_effect_voxels"] = int((salt_raw != salt_raw_on_our_prep).sum())

    # Post-processing on identical input: MONAI KeepLargestConnectedComponent vs ours.
    monai_cc = np.asarray(KeepLargestConnectedComponent(independent=False, is_onehot=False)(
        torch.from_numpy(ours_raw.astype(np.int64))[None]))[0]
    ours_cc = keep_largest_component(ours_raw, tree.background_value or 0)
    out["cc_voxels_removed_ours"] = int((ours_cc != ours_raw).sum())
    out["cc_voxels_diff"] = int((monai_cc != ours_cc).sum())
    np.save(Path(args.out) / "ours_post.npy", ours_cc.astype(np.uint8))
    return out


WORKERS = {"salt": worker_salt, "ours": worker_ours, "attribution": worker_attribution}


def run_worker(mode: str, args, out_dir: Path, timeout: float) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--model", str(args.model_dir), "--ct", str(args.ct),
               "--out", str(out_dir), "--salt-repo", str(args.salt_repo), "--threads", str(args.threads)]
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-4000:])
        raise SystemExit(f"worker {mode} failed with exit code {process.returncode}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def dice_table(a: np.ndarray, b: np.ndarray, names: dict, background: int, limit: int) -> list[str]:
    values = sorted(set(np.unique(a).tolist()) | set(np.unique(b).tolist()))
    rows = []
    for value in values:
        if value == background:
            continue
        in_a, in_b = a == value, b == value
        na, nb = int(in_a.sum()), int(in_b.sum())
        dice = 2.0 * int((in_a & in_b).sum()) / (na + nb) if na + nb else 1.0
        rows.append((dice, value, na, nb))
    rows.sort()
    lines = ["| label | leaf | voxels SALT | voxels ours | Dice |", "|---:|---|---:|---:|---:|"]
    for dice, value, na, nb in rows[:limit]:
        lines.append(f"| {value} | {names.get(value, '?')} | {na} | {nb} | {dice:.5f} |")
    if len(rows) > limit:
        lines.append(f"| … | {len(rows) - limit} more labels, all with Dice ≥ {rows[limit][0]:.5f} | | | |")
    dices = [r[0] for r in rows]
    lines.append(f"\nlabels present: {len(rows)}; Dice min {min(dices):.5f}, mean {np.mean(dices):.5f}, "
                 f"median {np.median(dices):.5f}" if rows else "no foreground labels")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--salt-repo", required=True, help="folder holding SALT's 'salt' package")
    parser.add_argument("--ct", default=str(DEFAULT_CT))
    parser.add_argument("--tree", default=str(DEFAULT_TREE))
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="small: roi 64×64×32 at 2.5 mm (minutes on a CPU); real: the published "
                             "roi 192×192×48 at 1.5 mm")
    parser.add_argument("--roi", type=int, nargs=3, help="override the preset's roi")
    parser.add_argument("--spacing", type=float, nargs=3, help="override the preset's spacing (mm)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amplitude", type=float, default=3.0, help="std of the random Conv3d weights")
    parser.add_argument("--threshold-scale", type=float, default=6.0)
    parser.add_argument("--exporter-tree-softmax", action="store_true",
                        help="export network logits followed by saltseg's TreeSoftmax (the default "
                             "format) instead of the equivalent dense-product tree softmax (same "
                             "probabilities to ~1e-6)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per pipeline")
    parser.add_argument("--skip-attribution", action="store_true",
                        help="only the end-to-end run (time, memory, differences)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    parser.add_argument("--workdir", help="keep intermediate files here (default: a temp folder)")
    parser.add_argument("--dice-rows", type=int, default=15, help="worst-Dice rows to print")
    # internal
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    import SimpleITK as sitk

    from saltseg.tree.labeltree import LabelTree

    roi, spacing = PRESETS[args.preset]
    roi = tuple(args.roi) if args.roi else roi
    spacing = tuple(args.spacing) if args.spacing else spacing
    args.salt_repo = str(Path(args.salt_repo).resolve())
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="salt_compare_"))
    work.mkdir(parents=True, exist_ok=True)
    args.model_dir = work / "model"
    build_model(Path(args.tree), args.model_dir, roi, spacing, args.seed, args.amplitude, args.threshold_scale,
                not args.exporter_tree_softmax)

    salt = run_worker("salt", args, work, args.timeout)
    ours = run_worker("ours", args, work, args.timeout)

    tree = LabelTree.from_tree_labels_file(args.tree)
    background = tree.background_value or 0
    names = {value: ",".join(tree.path(leaf)) for value, leaf in enumerate(tree.leaves)}
    ct = sitk.ReadImage(args.ct)
    ours_img = sitk.ReadImage(str(work / "ours.nii.gz"))
    salt_saved = sitk.ReadImage(salt["saved"])
    # SaveImaged wrote SALT's labels on the processing grid; place them on the input grid the same
    # way our map_to_input_grid does (nearest neighbour through physical space).
    salt_on_input = sitk.Resample(salt_saved, ct, sitk.Transform(), sitk.sitkNearestNeighbor, float(background),
                                  salt_saved.GetPixelID())
    a = sitk.GetArrayFromImage(salt_on_input).astype(np.int64)
    b = sitk.GetArrayFromImage(ours_img).astype(np.int64)
    differ = int((a != b).sum())

    print(f"# SALT vs saltseg — roi {roi} at {spacing} mm, CT {Path(args.ct).name} {ct.GetSize()} at "
          f"{tuple(round(s, 3) for s in ct.GetSpacing())} mm, torch threads {args.threads}\n")
    print(f"SALT's saved file: size {salt_saved.GetSize()}, "
          f"spacing {tuple(round(s, 3) for s in salt_saved.GetSpacing())}"
          f" (processing grid; SaveImaged(resample=False) does not map back to the input grid)\n")
    print("## End to end (input grid)\n")
    print("| pipeline | load+preprocess s | inference s | postprocess s | total s | baseline RSS MB | peak RSS MB "
          "| peak − baseline MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    st, ot = salt["timings"], ours["timings"]
    print(f"| SALT (predict.py pieces) | {st['load+preprocessing']:.2f} | {st['inference']:.2f} | "
          f"{st['postprocessing']:.2f} | {sum(st.values()):.2f} | {salt['baseline_rss_mb']:.0f} | "
          f"{salt['peak_rss_mb']:.0f} | {salt['peak_rss_mb'] - salt['baseline_rss_mb']:.0f} |")
    print(f"| saltseg segment_image | {ot['load'] + ot['preprocessing']:.2f} | {ot['inference']:.2f} | "
          f"{ot['postprocessing']:.2f} | {sum(ot.values()):.2f} | {ours['baseline_rss_mb']:.0f} | "
          f"{ours['peak_rss_mb']:.0f} | {ours['peak_rss_mb'] - ours['baseline_rss_mb']:.0f} |")
    print("\n(SALT's postprocess time includes writing the NIfTI with SaveImaged; ours includes mapping "
          "back to the input grid but not writing.)\n")
    print(f"voxels whose labels differ: **{differ} of {a.size} ({100.0 * differ / a.size:.4f} %)**\n")
    print("\n".join(dice_table(a, b, names, background, args.dice_rows)))

    if args.skip_attribution:
        return
    att = run_worker("attribution", args, work, args.timeout)
    total = att["total_voxels"]
    print("\n## Where the differences come from (processing grid "
          f"{'×'.join(map(str, att['prep_shape_ours']))} = {total} voxels)\n")
    print("| check | result |\n|---|---|")
    print(f"| preprocessed shape SALT / ours | {att['prep_shape_salt']} / {att['prep_shape_ours']} |")
    print(f"| grid affine max abs diff (mm) | {att['affine_max_abs_diff']:.2e} |")
    if "prep_max_abs_diff" in att:
        print(f"| preprocessed intensity max / mean abs diff (normalised; ×2048 = HU) | "
              f"{att['prep_max_abs_diff']:.2e} / {att['prep_mean_abs_diff']:.2e} |")
        print(f"| voxels with intensity diff > 1e-4 | {att['prep_voxels_diff_gt_1e-4']} |")
    if "prep_effect_voxels" in att:
        print("| label diff caused by preprocessing (SALT windows on SALT vs our prep) | "
              f"{att['prep_effect_voxels']} |")
    print(f"| largest-component step, same input: voxels removed by it / MONAI vs ours diff | "
          f"{att['cc_voxels_removed_ours']} / {att['cc_voxels_diff']} |")
    print("\nSALT's sliding window on OUR preprocessed volume, differences removed cumulatively (first "
          "four rows), then each difference alone, vs our sliding window (before the largest-component "
          "step):\n")
    print("| SALT variant | voxels differing from ours | % |\n|---|---:|---:|")
    for row in att["ladder"]:
        print(f"| {row['variant']} | {row['voxels_diff_vs_ours']} | {100.0 * row['voxels_diff_vs_ours'] / total:.4f} |")


if __name__ == "__main__":
    main()
