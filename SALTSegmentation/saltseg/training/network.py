"""The network: MONAI's DynUNet, SALT's architecture, sized by a filter list."""
from __future__ import annotations

from typing import Sequence

from torch import nn


def dynunet_layout(levels: int) -> tuple[list[list[int]], list[list[int]]]:
    """Kernel sizes and strides: 3×3×3 convolutions, full resolution first, then halvings."""
    kernels = [[3, 3, 3] for _ in range(levels)]
    strides = [[1, 1, 1]] + [[2, 2, 2] for _ in range(levels - 1)]
    return kernels, strides


def build_dynunet(num_classes: int, filters: Sequence[int] = (8, 16, 32, 64)) -> nn.Module:
    """A DynUNet mapping ``[B, 1, *roi]`` to ``num_classes`` logits (roi divisible by
    ``2 ** (len(filters) - 1)``). Needs the ``train`` extra (MONAI)."""
    try:
        from monai.networks.nets import DynUNet
    except ImportError as error:  # pragma: no cover - depends on the environment
        from ..errors import SaltSegError

        raise SaltSegError("training needs MONAI: pip install 'saltseg[train]'") from error
    if len(filters) < 3:
        from ..errors import SaltSegError

        raise SaltSegError(f"DynUNet needs at least 3 levels (filters), got {list(filters)}")
    kernels, strides = dynunet_layout(len(filters))
    return DynUNet(
        spatial_dims=3, in_channels=1, out_channels=num_classes, kernel_size=kernels, strides=strides,
        upsample_kernel_size=strides[1:], filters=list(filters), norm_name="instance",
        deep_supervision=False, res_block=False,
    )
