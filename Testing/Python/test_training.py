"""Trainer: dataset fusion, loss definition, learning, checkpoints/resume, export round trip."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("monai")

from saltseg.errors import SaltSegError  # noqa: E402
from saltseg.model.model_io import load_model  # noqa: E402
from saltseg.phantom import write_phantoms  # noqa: E402
from saltseg.inference.preprocess import prepare_volume  # noqa: E402
from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels  # noqa: E402
from saltseg.training import Trainer, TrainingDataError, TreeLoss, find_datasets  # noqa: E402
from saltseg.training.data import prepare_case  # noqa: E402
from saltseg.training.metrics import confusion, node_dice  # noqa: E402
from saltseg.training.network import build_dynunet  # noqa: E402
from saltseg.tree.tree_softmax import TreeSoftmax, reference_tree_softmax  # noqa: E402

SPACING = 12.0  # mm: tiny volumes


@pytest.fixture(scope="module")
def phantom_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms") / "phantoms"
    write_phantoms(root, [100, 101], "train", SPACING)
    write_phantoms(root, [200], "val", SPACING)
    return root


def _reference_loss(tree, logits, target, dice_weight=1.0, smooth=1e-5):
    """The loss written out from its definition, one voxel and one node at a time (float64)."""
    p = reference_tree_softmax(logits.double(), tree)[0].reshape(len(tree), -1)
    t = target.reshape(-1).tolist()
    valid = [i for i, v in enumerate(t) if v >= 0]
    nll = -np.mean([np.log(float(p[t[i], i])) for i in valid])
    dices = []
    for node in range(len(tree)):
        inter = pred = truth = 0.0
        for i in valid:
            below = node in tree.subtree(t[i]) and node != t[i]  # annotation says nothing about node
            if below:
                continue
            member = node == t[i] or node in tree.ancestors(t[i])
            inter += float(p[node, i]) * member
            pred += float(p[node, i])
            truth += member
        if truth > 0:
            dices.append((2 * inter + smooth) / (pred + truth + smooth))
    return nll + dice_weight * (1 - np.mean(dices))


def test_loss_equals_definition_with_leaf_internal_and_ignored_targets(small_tree):
    torch.manual_seed(3)
    logits = torch.randn(1, len(small_tree), 4, 2, 2) * 2
    soft = small_tree.index("body,soft_tissue")
    leaves = list(small_tree.leaves)
    target = torch.tensor(leaves * 2 + [soft, soft, -1, leaves[0]]).view(1, 4, 2, 2)
    loss, parts = TreeLoss(small_tree)(logits, target)
    assert loss.item() == pytest.approx(_reference_loss(small_tree, logits, target), rel=1e-4)
    # NLL of an internal node is -log of the summed probability of its leaves
    p = reference_tree_softmax(logits.double(), small_tree)[0, :, 0, 0, 0]
    below = [n for n in small_tree.subtree(soft) if small_tree.is_leaf(n)]
    assert float(p[soft]) == pytest.approx(float(p[below].sum()), rel=1e-9)


def test_loss_log_probabilities_match_tree_softmax(salt_tree):
    logits = torch.randn(2, len(salt_tree), 4, 3, 2) * 4
    ours = TreeLoss(salt_tree).log_probabilities(logits)
    expected = TreeSoftmax(salt_tree, log=True)(logits).movedim(1, -1).reshape(-1, len(salt_tree))
    assert torch.allclose(ours, expected, atol=1e-4)


def test_a_few_training_steps_reduce_the_loss(small_tree):
    torch.manual_seed(0)
    network = build_dynunet(len(small_tree), (4, 8, 8))
    loss_fn = TreeLoss(small_tree)
    image = torch.rand(2, 1, 16, 16, 8)
    target = torch.full((2, 16, 16, 8), small_tree.index("background"))
    target[:, 4:12, 4:12] = small_tree.index("body,fat")
    target[:, 6:10, 6:10] = small_tree.index("body,bone")
    image[:, 0][target == small_tree.index("body,bone")] += 1.0
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss, _ = loss_fn(network(image), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_datasets_with_different_trees_fuse_and_partial_labels_map_to_internal_nodes(phantom_dataset, tmp_path):
    coarse = tmp_path / "coarse"
    (coarse / "train" / "images").mkdir(parents=True)
    (coarse / "train" / "labels").mkdir(parents=True)
    (coarse / "tree-labels.txt").write_text("background\nbody,abdominal_cavity,kidneys\n-\nbody,tumour,lesion\n"
                                            "body,tumour,other\n")
    image = sitk.Image(8, 8, 8, sitk.sitkInt16)
    label = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    label[2, 2, 2] = 1
    label[3, 3, 3] = 2  # an unused value ("-"): ignored
    sitk.WriteImage(image, str(coarse / "train" / "images" / "a.nii.gz"))
    sitk.WriteImage(label, str(coarse / "train" / "labels" / "a.nii.gz"))
    data = find_datasets([phantom_dataset, coarse])
    tree = data.tree
    assert tree.index("body,tumour,lesion") is not None and tree.index("body,abdominal_cavity,liver") is not None
    case = [c for c in data.cases("train") if c.dataset == "coarse"][0]
    prepared = prepare_case(case, (1.0, 1.0, 1.0))
    kidneys = tree.index("body,abdominal_cavity,kidneys")
    assert not tree.is_leaf(kidneys)
    assert set(np.unique(prepared.target)) == {tree.index("background"), kidneys, -1}


def test_bad_datasets_give_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDataError, match="tree-labels.txt"):
        find_datasets([tmp_path / "empty"])
    ds = tmp_path / "ds"
    for sub in ("images", "labels"):
        (ds / "train" / sub).mkdir(parents=True)
    (ds / "tree-labels.txt").write_text("background\nbody,a\nbody,b\n")
    sitk.WriteImage(sitk.Image(8, 8, 8, sitk.sitkInt16), str(ds / "train" / "images" / "x.nii.gz"))
    sitk.WriteImage(sitk.Image(8, 8, 6, sitk.sitkUInt8), str(ds / "train" / "labels" / "x.nii.gz"))
    data = find_datasets([ds])
    with pytest.raises(TrainingDataError, match="size"):
        prepare_case(data.cases("train")[0], (1.0, 1.0, 1.0))


def test_train_resume_export_and_round_trip(phantom_dataset, tmp_path):
    from saltseg.cli import train_command

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    out = tmp_path / "run"
    common = ["train", str(phantom_dataset), "-o", str(out), "--roi", "32", "32", "16", "--spacing",
              str(SPACING), str(SPACING), str(SPACING), "--filters", "4", "8", "8", "--val-every", "2",
              "--val-cases", "1", "--threads", "1", "--quiet"]
    args = parser.parse_args(common + ["--steps", "2"])
    assert args.run(args) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("val_mean_leaf_dice" in r for r in records)
    saved = torch.load(out / "checkpoint-last.pt", weights_only=False)
    assert saved["step"] == 2
    args = parser.parse_args(common + ["--steps", "3", "--resume"])
    trainer = Trainer(train_command.config_from_args(args))
    # Every optimizer step of the resumed run, seen before it changes anything: exactly one, and
    # it starts from the checkpoint's weights and AdamW moments (a run from scratch would not).
    steps: list[tuple[dict, dict]] = []

    def before_step(optimizer, args, kwargs):
        if optimizer is trainer.optimizer:
            steps.append(({k: v.detach().clone() for k, v in trainer.network.state_dict().items()},
                          {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
                           for i, state in optimizer.state_dict()["state"].items()}))

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    hook = register_optimizer_step_pre_hook(before_step)
    try:
        result = trainer.run()
    finally:
        hook.remove()
    assert result.step == 3 and len(steps) == 1
    weights, moments = steps[0]
    for name, value in saved["network"].items():
        assert torch.equal(weights[name], value), name
    assert moments.keys() == saved["optimizer"]["state"].keys() and moments
    for index, state in saved["optimizer"]["state"].items():
        assert float(moments[index]["step"]) == 2.0
        assert torch.equal(moments[index]["exp_avg"], state["exp_avg"])
        assert torch.equal(moments[index]["exp_avg_sq"], state["exp_avg_sq"])
    model = load_model(result.model_dir, "cpu")
    assert model.tree == trainer.tree and model.config.roi_size == (32, 32, 16)

    # the exported TorchScript gives the same labels as the in-memory network (best checkpoint)
    best = torch.load(out / "checkpoint-best.pt", weights_only=False)
    network = build_dynunet(len(trainer.tree), (4, 8, 8))
    network.load_state_dict(best["network"])
    network.eval()
    softmax = TreeSoftmax(trainer.tree)
    image = sitk.ReadImage(str(phantom_dataset / "val" / "images" / "phantom_00200.nii.gz"))
    volume = prepare_volume(image, model.config.voxel_spacing, None).array
    settings = WindowSettings(roi_size=(32, 32, 16), mixed_precision=False)
    leaves = torch.as_tensor(trainer.tree.leaves)
    with torch.no_grad():
        ours = sliding_window_labels(volume, lambda x: softmax(network(x)), leaves, len(trainer.tree),
                                     settings, torch.device("cpu"))
    exported = sliding_window_labels(volume, model.network, leaves, len(trainer.tree), settings,
                                     torch.device("cpu"))
    assert np.mean(ours == exported) > 0.999


def test_node_dice_counts_internal_nodes_as_unions(small_tree):
    muscle, left = small_tree.index("body,soft_tissue,muscle"), small_tree.index("body,soft_tissue,organ_left")
    truth = np.array([muscle, muscle, left, left])
    predicted = np.array([small_tree.label_value(muscle), small_tree.label_value(left)] * 2)
    dice = node_dice(small_tree, confusion(small_tree, truth, predicted))
    assert dice["body,soft_tissue,muscle"] == pytest.approx(0.5)
    assert dice["body,soft_tissue"] == pytest.approx(1.0)


def test_salt_architecture_is_the_published_network():
    from saltseg.training.network import build_salt_dynunet, salt_layout

    kernels, strides = salt_layout((192, 192, 48), (1.5, 1.5, 1.5))
    assert kernels == [[3, 3, 3]] * 6
    assert strides == [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 1], [2, 2, 1]]
    network = build_salt_dynunet(145, (kernels, strides))
    float32_bytes = 4 * sum(parameter.numel() for parameter in network.parameters())
    published_model_pt = 122_792_758  # bytes of SALT's model.pt (shared data README): its weights
    assert abs(float32_bytes - published_model_pt) / published_model_pt < 0.01


def _train_parser():
    from saltseg.cli import train_command

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    return parser


def test_train_salt_architecture_exports_its_layout(phantom_dataset, tmp_path):
    from saltseg.training.network import salt_layout

    parser = _train_parser()
    out = tmp_path / "salt"
    args = parser.parse_args(["train", str(phantom_dataset), "-o", str(out), "--architecture", "salt",
                              "--roi", "32", "32", "16", "--window", "32", "32", "16", "--spacing",
                              str(SPACING), str(SPACING), str(SPACING), "--steps", "1", "--val-cases", "1",
                              "--threads", "1", "--quiet"])
    assert args.run(args) == 0
    model = load_model(out / "model", "cpu")
    kernels, strides = salt_layout((32, 32, 16), (SPACING,) * 3)
    assert model.config.kernel_sizes == kernels
    assert model.config.strides == strides
    assert model.config.roi_size == (32, 32, 16)
    args = parser.parse_args(["train", str(phantom_dataset), "-o", str(out), "--roi", "32", "32", "16",
                              "--steps", "2", "--resume", "--quiet"])
    with pytest.raises(SaltSegError, match="holds a 'salt' network"):
        args.run(args)


def test_train_refuses_a_window_the_network_cannot_halve(phantom_dataset, tmp_path):
    parser = _train_parser()
    args = parser.parse_args(["train", str(phantom_dataset), "-o", str(tmp_path / "run"), "--architecture",
                              "salt", "--roi", "32", "32", "16", "--window", "36", "36", "16", "--quiet"])
    with pytest.raises(SaltSegError, match="cannot be halved evenly"):
        args.run(args)
    args = parser.parse_args(["train", str(phantom_dataset), "-o", str(tmp_path / "run"), "--architecture",
                              "salt", "--roi", "20", "32", "16", "--window", "32", "32", "16", "--quiet"])
    with pytest.raises(SaltSegError, match=r"training window \[20, 32, 16\] must be divisible by \[8, 8, 4\]"):
        args.run(args)
