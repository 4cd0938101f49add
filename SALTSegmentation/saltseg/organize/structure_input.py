"""What every organize input reader returns: a labelmap with its names, codes and known tree paths."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import SimpleITK as sitk

from .codes import CodeKey


@dataclass
class StructureInput:
    labelmap: sitk.Image
    names: dict[int, str]
    codes: dict[int, CodeKey] = field(default_factory=dict)
    kind: str = "labelmap"
    paths: dict = field(default_factory=dict)  # value → tree path a structure already carries
    scheme: Optional[str] = None  # the scheme whose value map named the labels, if one did
    #: value → the model id a structure with a tree path carries (this project's own outputs)
    model_ids: dict = field(default_factory=dict)
