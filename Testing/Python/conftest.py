"""Shared fixtures: the real shared CT, the published label tree, small real models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from saltseg.tree.labeltree import LabelTree
from saltseg.model.threshold_model import export_threshold_model

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
BUNDLED_TREE = REPO / "SALTSegmentation" / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"

# Small trees in SALT's file format, for fast tests.
SMALL_TREE_TEXT = """background
body,fat
body,soft_tissue,muscle
body,soft_tissue,organ_left
body,soft_tissue,organ_right
body,bone
"""
SMALL_RULES = ((-10000.0, "background"), (-500.0, "body,fat"), (0.0, "body,soft_tissue,muscle"),
               (300.0, "body,bone"))


@pytest.fixture(scope="session", autouse=True)
def _network_cache_in_tmp(tmp_path_factory):
    """Network conversions (ONNX) of the session go to a pytest folder, not the user's cache:
    tests write only under pytest's temporary folders (subprocesses inherit the variable)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SALTSEG_CACHE_DIR", str(tmp_path_factory.mktemp("network-cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def _float32_whatever_the_cpu():
    """``--precision auto`` runs float32 in the tests (and their subprocesses) on every CPU, so no
    result depends on whether the machine has native bf16; test_precision_auto.py injects CPUs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SALTSEG_NATIVE_BF16", "0")
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def salt_tree() -> LabelTree:
    return LabelTree.from_tree_labels_file(BUNDLED_TREE)


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory) -> LabelTree:
    path = tmp_path_factory.mktemp("tree") / "tree-labels.txt"
    path.write_text(SMALL_TREE_TEXT)
    return LabelTree.from_tree_labels_file(path)


@pytest.fixture(scope="session")
def small_threshold_model(tmp_path_factory, small_tree) -> Path:
    """A real official-format model (HU thresholds) on the small tree, 6 mm, roi 32×32×16."""
    out = tmp_path_factory.mktemp("small_model")
    return export_threshold_model(out, small_tree, roi_size=(32, 32, 16), voxel_spacing=(6.0, 6.0, 6.0),
                                  rules=SMALL_RULES)


@pytest.fixture(scope="session")
def salt_threshold_model(tmp_path_factory, salt_tree) -> Path:
    """The same kind of model on the published 145-node tree."""
    out = tmp_path_factory.mktemp("salt_model")
    return export_threshold_model(out, salt_tree, roi_size=(32, 32, 16), voxel_spacing=(6.0, 6.0, 6.0))


@pytest.fixture(scope="session")
def example_ct(shared_data) -> sitk.Image:
    return sitk.ReadImage(str(shared_data / "example_ct.nii.gz"))


@pytest.fixture(scope="session")
def example_ct_small(shared_data) -> sitk.Image:
    return sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))


@pytest.fixture(scope="session", autouse=True)
def _scratch_in_pytest_tmp(tmp_path_factory):
    """What tools write by default under the home folder or /tmp goes to pytest's temporary
    folder instead: the ONNX cache of the network runtime, Dask's worker scratch space, Mesa's
    shader cache (offscreen rendering). Child processes (engine, workers) inherit it."""
    root = tmp_path_factory.mktemp("scratch")
    values = {"SALTSEG_CACHE_DIR": root / "saltseg-cache", "DASK_TEMPORARY_DIRECTORY": root / "dask",
              "MESA_SHADER_CACHE_DIR": root / "mesa-shader-cache"}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(path) for name, path in values.items()})
    try:
        import dask.config

        dask.config.set({"temporary-directory": str(values["DASK_TEMPORARY_DIRECTORY"])})
    except ImportError:  # the batch extra is optional
        pass
    yield root
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


def random_tree_paths(rng: np.random.Generator, num_nodes: int, max_depth: int) -> list[tuple[str, ...]]:
    """Leaf paths of a random valid SALT tree (every internal node has ≥ 2 children)."""
    paths: list[tuple[str, ...]] = [("n0",), ("n1",)]
    counter = 2
    while counter + 2 <= num_nodes:
        candidates = [p for p in paths if len(p) < max_depth]
        if not candidates:
            break
        leaf = candidates[rng.integers(len(candidates))]
        paths.remove(leaf)
        children = int(rng.integers(2, 5))
        children = min(children, num_nodes - counter)
        for _ in range(max(children, 2)):
            paths.append(leaf + (f"n{counter}",))
            counter += 1
    return paths
