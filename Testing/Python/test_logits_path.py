"""The network's features (or logits) are taken out of model.pt's graph, checked against the whole
model, and the whole model is used whenever the cut does not reproduce it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from saltseg.inference.window_network import WindowNetwork
from saltseg.model.export import export_model
from saltseg.model.logits import extract_features_and_head, extract_logits_function
from saltseg.model.model_io import MODEL_FILE, load_model
from saltseg.tree.tree_softmax import TreeSoftmax
from conftest import BUNDLED_TREE
from paper_tree_softmax import paper_tree_softmax, tree_from_labels_file

ROI = (32, 32, 16)


def small_dynunet(tree, seed=0):
    from monai.networks.nets import DynUNet

    torch.manual_seed(seed)
    return DynUNet(3, 1, len(tree), kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2],
                   filters=[4, 8, 16], res_block=True).eval()


@pytest.fixture(scope="module")
def dynunet_model(tmp_path_factory, small_tree):
    network = small_dynunet(small_tree)
    folder = export_model(network, small_tree, tmp_path_factory.mktemp("dynunet"), ROI, (4.0, 4.0, 4.0))
    return folder, network


class Squashed(torch.nn.Module):
    """A layer after the last convolution (that freezing cannot fold into it): the cut misses it."""

    def forward(self, x):
        return 5.0 * torch.tanh(x)


def _labels(volume, predictor, tree, **settings):
    return sliding_window_labels(volume, predictor, torch.as_tensor(tree.leaves), len(tree),
                                 WindowSettings(roi_size=ROI, **settings), torch.device("cpu"))


def test_cut_graph_returns_the_networks_logits(dynunet_model, small_tree):
    folder, network = dynunet_model
    model = load_model(folder, "cpu")
    logits = extract_logits_function(model.network)
    assert logits is not None
    x = torch.rand(2, 1, *ROI)
    with torch.no_grad():
        expected = network(x)
        assert torch.allclose(logits(x), expected, atol=1e-4)
        # and the graph lost the tree softmax: no exp left in it
        assert not any(node.kind() == "aten::exp" for node in logits.graph.nodes())
        assert torch.allclose(TreeSoftmax(small_tree)(logits(x)), model.network(x), atol=1e-5)


def test_features_cut_and_pointwise_head_reproduce_the_network(dynunet_model):
    """DynUNet ends with a 1×1×1 convolution: the graph is cut before it (4 feature channels instead
    of one per node) and the head's weights come out of the frozen graph."""
    folder, network = dynunet_model
    model = load_model(folder, "cpu")
    features, head = extract_features_and_head(model.network)
    x = torch.rand(2, 1, *ROI)
    with torch.no_grad():
        values = features(x)
        assert values.shape == (2, 4, *ROI)
        assert torch.allclose(head.logits(values), network(x), atol=1e-4)
        assert head.weight.shape == (len(network.output_block.conv.conv.weight), 4)


def test_features_path_gives_the_whole_models_labels(dynunet_model, small_tree):
    folder, _ = dynunet_model
    model = load_model(folder, "cpu")
    volume = np.random.default_rng(0).random((40, 37, 29), dtype=np.float32)
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(volume, predictor, small_tree)
    assert predictor.uses_logits and predictor.describe().startswith("network features (torch)")
    whole = _labels(volume, model.network, small_tree)
    assert len(np.unique(whole)) > 2
    assert np.mean(labels == whole) > 0.9999


def test_last_layer_that_is_not_pointwise_uses_the_logits_path(tmp_path, small_tree):
    torch.manual_seed(4)
    network = torch.nn.Sequential(torch.nn.Conv3d(1, 6, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv3d(6, len(small_tree), 3, padding=1))
    model = load_model(export_model(network, small_tree, tmp_path / "m", ROI, (4.0, 4.0, 4.0)), "cpu")
    assert extract_features_and_head(model.network) is None
    volume = np.random.default_rng(3).random((32, 32, 20), dtype=np.float32)
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(volume, predictor, small_tree)
    assert predictor.describe().startswith("network logits (torch)")
    assert np.mean(labels == _labels(volume, model.network, small_tree)) > 0.9999


@pytest.mark.parametrize("pointwise_last", [False, True])
def test_unrecognised_graph_falls_back_to_the_whole_model(tmp_path, small_tree, pointwise_last):
    torch.manual_seed(1)
    layers = ([torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.Conv3d(4, len(small_tree), 1)] if pointwise_last
              else [torch.nn.Conv3d(1, len(small_tree), 3, padding=1)])
    network = torch.nn.Sequential(*layers, Squashed(), TreeSoftmax(small_tree))
    folder = export_model(network, small_tree, tmp_path / "m", ROI, (4.0, 4.0, 4.0), outputs_probabilities=True)
    model = load_model(folder, "cpu")
    assert extract_logits_function(model.network) is not None  # the cuts themselves succeed ...
    assert (extract_features_and_head(model.network) is not None) == pointwise_last
    volume = np.random.default_rng(1).random((32, 32, 20), dtype=np.float32)
    predictor = WindowNetwork(model)
    labels = _labels(volume, predictor, small_tree)
    assert not predictor.uses_logits  # ... but the check on the first batch refuses them
    refused = [note for note in predictor.notes if "refused" in note]
    assert len(refused) == (2 if pointwise_last else 1)
    assert np.array_equal(labels, _labels(volume, model.network, small_tree))


def test_graph_without_a_convolution_and_whole_model_option_run_whole(small_threshold_model, dynunet_model):
    threshold = load_model(small_threshold_model, "cpu")
    assert extract_logits_function(threshold.network) is None
    assert extract_features_and_head(threshold.network) is None
    assert not WindowNetwork(threshold).uses_logits
    forced = WindowNetwork(load_model(dynunet_model[0], "cpu"), whole_model=True)
    assert not forced.uses_logits and forced.describe() == "model.pt whole (torch)"


def test_model_traced_on_cuda_gives_logits_on_the_cpu(tmp_path, small_tree):
    """The published model.pt has cuda:0 device literals; the cut graph keeps them retargeted."""

    class ZerosLikeInput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, len(small_tree), 3, padding=1)

        def forward(self, x):
            return self.conv(x + torch.zeros(x.shape[0], 1, *x.shape[2:], device=x.device))

    folder = export_model(ZerosLikeInput(), small_tree, tmp_path / "m", ROI, (4.0, 4.0, 4.0))
    module = torch.jit.load(str(folder / MODEL_FILE), map_location="cpu")
    patched = 0
    for node in module.graph.nodes():
        if node.kind() == "prim::Constant" and node.output().type().kind() == "DeviceObjType":
            node.s_("value", "cuda:0")
            patched += 1
    assert patched
    torch.jit.save(module, str(folder / MODEL_FILE))
    model = load_model(folder, "cpu")
    volume = np.random.default_rng(2).random((32, 32, 16), dtype=np.float32)
    predictor = WindowNetwork(model, backend="torch")
    labels = _labels(volume, predictor, small_tree)
    assert predictor.uses_logits
    assert np.array_equal(labels, _labels(volume, model.network, small_tree))


@pytest.mark.parametrize("scale", [1.0, 6.0, 300.0])
@pytest.mark.parametrize("with_head", [False, True])
def test_chunked_leaf_probabilities_equal_the_tree_softmax(salt_tree, scale, with_head):
    """On the published 145-node tree, from logits or from features through a pointwise head, also
    for logits whose bound from the features is large but which are not (scale 6: bound ~90, logits
    ≤ 40) and for huge logits (no overflow: each group's own max is subtracted when logits are large)."""
    from saltseg.inference.leaf_layout import LeafLayout
    from saltseg.inference.leaf_reducers import ProbabilityReducer, TreeSoftmaxReducer
    from saltseg.model.logits import PointwiseHead

    generator = torch.Generator().manual_seed(0)
    voxels, layout = 5000, LeafLayout(salt_tree)
    if with_head:
        features = torch.randn(8, voxels, generator=generator)
        head = PointwiseHead(torch.randn(len(salt_tree), 8, generator=generator) * scale / 3,
                             torch.randn(len(salt_tree), generator=generator))
        logits = head.weight.double() @ features.double() + head.bias.double()[:, None]
        chunk, reducer = features, TreeSoftmaxReducer(layout, torch.device("cpu"), head)
    else:
        chunk = torch.randn(len(salt_tree), voxels, generator=generator) * scale
        logits, reducer = chunk.double(), TreeSoftmaxReducer(layout, torch.device("cpu"))
    weight = torch.rand(voxels, generator=generator)
    slab_nodes = torch.as_tensor(layout.slab_nodes)
    # float64 from the paper's equations on the published tree's adjacency matrix, rows put in
    # the model's channel order by node path
    nodes, adjacency = tree_from_labels_file(BUNDLED_TREE)
    order = [nodes.index(tuple(salt_tree.path(i))) for i in range(len(salt_tree))]
    probabilities = torch.from_numpy(paper_tree_softmax(logits.numpy()[np.argsort(order)], adjacency))
    probabilities = probabilities[order]
    expected = probabilities.index_select(0, slab_nodes) * weight.double()
    ours = torch.full((len(slab_nodes), voxels), 0.5)  # reducers add to what the slab holds
    reducer(chunk, weight, ours)
    assert torch.isfinite(ours).all()
    # A head's float32 logits of magnitude ~1000 are only good to ~1e-4 themselves.
    assert torch.allclose(ours.double() - 0.5, expected, atol=1e-4 if with_head and scale > 1 else 1e-6)
    selected = torch.zeros(len(slab_nodes), 50, 100)  # [L, *spatial] views, as the slab gives them
    ProbabilityReducer(layout.slab_nodes, len(salt_tree), torch.device("cpu"))(probabilities.float(), weight, selected)
    assert torch.allclose(selected.reshape(len(slab_nodes), -1).double(), expected, atol=1e-6)
    # the layout: every leaf once, and the labels map back to their slab channels
    assert sorted(layout.slab_nodes) == sorted(salt_tree.leaves)
    assert [layout.slab_nodes[c] for c in layout.label_channels] == list(salt_tree.leaves)
