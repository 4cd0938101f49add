"""Readable names for SALT node names (``vertebrae_L1`` → "L1 vertebra").

Only for display: the tree path stays the key everywhere.
"""
from __future__ import annotations

import re

_SIDES = {"left": "Left", "right": "Right"}

# Names whose Latin or abbreviated form a user would not recognise from word splitting alone.
_SPECIAL = {
    "vci_pass_thoracica": "Inferior vena cava (thoracic)",
    "vci_pass_abdominalis": "Inferior vena cava (abdominal)",
    "aorta_thoracica_pass_mediastinum": "Thoracic aorta (mediastinal part)",
    "aorta_thoracica_pass_pericardium": "Thoracic aorta (pericardial part)",
    "aorta_abdominalis": "Abdominal aorta",
    "pulmonary_artery_pass_mediastinum": "Pulmonary artery (mediastinal part)",
    "pulmonary_artery_pass_pericardium": "Pulmonary artery (pericardial part)",
    "portal_vein_and_splenic_vein": "Portal and splenic vein",
    "autochthone": "Autochthonous back muscles",
    "autochthon": "Autochthonous back muscle",
    "claviculae": "Clavicles",
    "clavicula": "Clavicle",
    "femora": "Femurs",
    "humeri": "Humeri",
    "iliopsoai": "Iliopsoas muscles",
    "iliac_venae": "Iliac veins",
    "iliac_vena": "Iliac vein",
    "gluteus_maximi": "Gluteus maximus muscles",
    "gluteus_medii": "Gluteus medius muscles",
    "gluteus_minimi": "Gluteus minimus muscles",
    "heart_myocardium": "Myocardium",
    "heart_atrium": "Atrium",
    "heart_ventricle": "Ventricle",
    "lung_upper_lobe": "Upper lung lobe",
    "lung_middle_lobe": "Middle lung lobe",
    "lung_lower_lobe": "Lower lung lobe",
    # Nodes the organised tree adds for other models' structures (saltseg.organize).
    "head_neck": "Head and neck",
    "bowel_bag": "Bowel bag (peritoneal space)",
}

_VERTEBRA = re.compile(r"^vertebrae?_([CTLS]\d{1,2})$")
_RIB = re.compile(r"^rib_(left|right)_(\d{1,2})$")


def _humanise(name: str) -> str:
    if name in _SPECIAL:
        return _SPECIAL[name]
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def display_name(name: str, parent_name: str | None = None) -> str:
    """Readable form of one node name; ``parent_name`` qualifies generic names like ``other``."""
    match = _VERTEBRA.match(name)
    if match:
        return f"{match.group(1)} vertebra"
    match = _RIB.match(name)
    if match:
        return f"{_SIDES[match.group(1)]} rib {int(match.group(2))}"
    if name == "other":
        return f"Other ({display_name(parent_name).lower()})" if parent_name else "Other"
    for side, word in _SIDES.items():
        if name.endswith("_" + side):
            base = _humanise(name[: -len(side) - 1])
            return f"{word} {base[:1].lower() + base[1:]}"
    return _humanise(name)


def display_name_for_path(path: tuple[str, ...]) -> str:
    return display_name(path[-1], path[-2] if len(path) > 1 else None)
