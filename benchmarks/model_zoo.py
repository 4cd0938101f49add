"""Benchmark models in the official SALT format, built once per work folder and reused.

``full``: SALT's published architecture (MONAI DynUNet, residual blocks, kernels/strides from
SALT's rule for roi 192×192×48 at 1.5 mm, 145 output channels, ≈ 30.7 M parameters).
``tiny``: a small DynUNet on the same tree, roi and spacing. Both have seeded random weights and
are exported like ``salt/export.py`` does (traced ``Sequential(DynUNet, TreeSoftmax)``, frozen).
With ``salt_repo``, the tree softmax is SALT's own ``salt.core.activations.TreeSoftmax`` imported
from that checkout (as in the published model.pt); otherwise saltseg's.
"""
from __future__ import annotations

from pathlib import Path

from benchmark_engine import ROI, build_dynunet, export_without_trace_check, kernels_and_strides

ARCHITECTURES = ("full", "tiny")
SPACING = (1.5, 1.5, 1.5)


def salt_tree_softmax(salt_repo: str, tree):
    import sys

    if salt_repo not in sys.path:
        sys.path.insert(0, salt_repo)
    from salt.core.activations import TreeSoftmax

    return TreeSoftmax(adjacency_matrix=tree.adjacency_matrix)


def build_model(arch: str, workdir: Path, tree_file: str, seed: int = 0, salt_repo: str = "") -> Path:
    import torch
    from monai.networks.nets import DynUNet

    from saltseg.tree.labeltree import LabelTree

    folder = Path(workdir) / f"{arch}-seed{seed}{'-salt-tsm' if salt_repo else ''}"
    if (folder / "model.pt").is_file() and (folder / "config.pkl").is_file():
        return folder
    tree = LabelTree.from_tree_labels_file(tree_file)
    torch.manual_seed(seed)
    kernels, strides = kernels_and_strides(ROI, SPACING)
    if arch == "full":
        network = build_dynunet(len(tree), kernels, strides)
    else:
        network = DynUNet(3, 1, len(tree), kernel_size=kernels, strides=strides,
                          upsample_kernel_size=strides[1:], filters=[4, 8, 8, 16, 16, 16][:len(strides)],
                          res_block=True)
    if salt_repo:
        exported = torch.nn.Sequential(network, salt_tree_softmax(salt_repo, tree)).eval()
        export_without_trace_check(exported, tree, folder, ROI, SPACING, kernel_sizes=kernels, strides=strides,
                                   outputs_probabilities=True)
    else:
        export_without_trace_check(network.eval(), tree, folder, ROI, SPACING, kernel_sizes=kernels,
                                   strides=strides)
    return folder
