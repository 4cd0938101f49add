"""The network: MONAI's DynUNet, either compact (sized by a filter list) or SALT's own architecture."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import SaltSegError

if TYPE_CHECKING:  # torch is imported by MONAI when a network is built, not when the CLI lists choices
    from torch import nn

#: ``compact``: 3×3×3 kernels, halving every axis at each level, filters from ``--filters``.
#: ``salt``: SALT's published network (``salt/train.py``): kernels and strides from nnU-Net's rule
#: for the inference window and spacing, residual blocks, MONAI's default filters (32 … 320).
ARCHITECTURES = ("compact", "salt")

Layout = tuple[list[list[int]], list[list[int]]]


def dynunet_layout(levels: int) -> Layout:
    """Kernel sizes and strides: 3×3×3 convolutions, full resolution first, then halvings."""
    kernels = [[3, 3, 3] for _ in range(levels)]
    strides = [[1, 1, 1]] + [[2, 2, 2] for _ in range(levels - 1)]
    return kernels, strides


def compact_layout(filters: Sequence[int]) -> Layout:
    """The compact network's layout, one level per filter count (at least 3)."""
    if len(filters) < 3:
        raise SaltSegError(f"DynUNet needs at least 3 levels (filters), got {list(filters)}")
    return dynunet_layout(len(filters))


def salt_layout(roi: Sequence[int], spacing: Sequence[float]) -> Layout:
    """SALT's (nnU-Net's) rule: halve every axis whose spacing is at most twice the finest and whose
    size is still ≥ 8, until no axis can be halved; 3-wide kernels where the spacing ratio is ≤ 2,
    no stride before the first level and an all-threes kernel at the bottleneck. For SALT's window,
    192×192×48 at 1.5 mm, this gives six levels with the last two not halving z."""
    sizes = [float(size) for size in roi]
    spacing = [float(step) for step in spacing]
    kernels: list[list[int]] = []
    strides: list[list[int]] = [[1] * len(sizes)]
    while True:
        finest = min(spacing)
        ratios = [step / finest for step in spacing]
        stride = [2 if ratio <= 2 and size >= 8 else 1 for ratio, size in zip(ratios, sizes)]
        if stride == [1] * len(sizes):
            break
        if any(size % factor for size, factor in zip(sizes, stride)):
            raise SaltSegError(f"window {list(roi)} cannot be halved evenly along every strided axis; "
                               "choose sizes with more factors of 2")
        kernels.append([3 if ratio <= 2 else 1 for ratio in ratios])
        strides.append(stride)
        sizes = [size / factor for size, factor in zip(sizes, stride)]
        spacing = [step * factor for step, factor in zip(spacing, stride)]
    kernels.append([3] * len(sizes))
    return kernels, strides


def downsampling(strides: Sequence[Sequence[int]]) -> list[int]:
    """How much each axis shrinks through the network: a window's sizes must be multiples of it."""
    factors = [1, 1, 1]
    for stride in strides:
        factors = [factor * step for factor, step in zip(factors, stride)]
    return factors


def _dynunet():
    try:
        from monai.networks.nets import DynUNet
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SaltSegError("training needs MONAI: pip install 'saltseg[train]'") from error
    return DynUNet


def build_dynunet(num_classes: int, filters: Sequence[int] = (8, 16, 32, 64)) -> nn.Module:
    """The compact DynUNet mapping ``[B, 1, *roi]`` to ``num_classes`` logits (roi divisible by
    ``2 ** (len(filters) - 1)``). Needs the ``train`` extra (MONAI)."""
    kernels, strides = compact_layout(filters)
    return _dynunet()(
        spatial_dims=3, in_channels=1, out_channels=num_classes, kernel_size=kernels, strides=strides,
        upsample_kernel_size=strides[1:], filters=list(filters), norm_name="instance",
        deep_supervision=False, res_block=False,
    )


def build_salt_dynunet(num_classes: int, layout: Layout) -> nn.Module:
    """SALT's published DynUNet (≈ 30.7 M parameters for its window) for ``salt_layout``'s layout."""
    kernels, strides = layout
    return _dynunet()(
        spatial_dims=3, in_channels=1, out_channels=num_classes, kernel_size=kernels, strides=strides,
        upsample_kernel_size=strides[1:], res_block=True,
    )
