"""SNOMED CT codes for SALT's structures — the one source of truth for every standard coding.

The Slicer module turns them into terminology entries; DICOM SEG writers use them as the
anatomic/property type codes. Only codes we are sure of are listed: a structure without one
(e.g. "muscles, other") gets no code rather than a wrong one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

SCHEME = "SCT"  # SNOMED CT, as DICOM writes the coding scheme designator

#: SNOMED CT laterality qualifiers (code, meaning).
LEFT = ("7771000", "Left")
RIGHT = ("24028007", "Right")

#: SALT node name with its side suffix removed → (SNOMED CT code, code meaning).
CODES: dict[str, tuple[str, str]] = {
    "spleen": ("78961009", "Spleen"),
    "kidney": ("64033007", "Kidney"),
    "gallbladder": ("28231008", "Gallbladder"),
    "liver": ("10200004", "Liver"),
    "stomach": ("69695003", "Stomach"),
    "pancreas": ("15776009", "Pancreas"),
    "adrenal_gland": ("23451007", "Adrenal gland"),
    "lung_upper_lobe": ("45653009", "Upper lobe of lung"),
    "lung_lower_lobe": ("90572001", "Lower lobe of lung"),
    "lung_middle_lobe": ("72481006", "Middle lobe of right lung"),
    "heart_atrium_left": ("82471001", "Left atrium"),
    "heart_ventricle_left": ("87878005", "Left ventricle"),
    "heart_atrium_right": ("73829009", "Right atrium"),
    "heart_ventricle_right": ("53085002", "Right ventricle"),
    "brain": ("12738006", "Brain"),
    "spinal_cord": ("2748008", "Spinal cord"),
    "aorta_abdominalis": ("7832008", "Abdominal aorta"),
    "iliac_artery": ("73634005", "Common iliac artery"),
    "iliac_vena": ("46027005", "Common iliac vein"),
    "small_bowel": ("30315005", "Small intestine"),
    "duodenum": ("38848004", "Duodenum"),
    "colon": ("71854001", "Colon"),
    "urinary_bladder": ("89837001", "Bladder"),
    "humerus": ("85050009", "Humerus"),
    "scapula": ("79601000", "Scapula"),
    "clavicula": ("51299004", "Clavicle"),
    "femur": ("71341001", "Femur"),
    "sacrum": ("54735007", "Sacrum"),
    "gluteus_maximus": ("181674001", "Gluteus maximus muscle"),
    "gluteus_medius": ("78333006", "Gluteus medius muscle"),
    "autochthon": ("44947003", "Erector spinae muscle"),
    "iliopsoas": ("68455001", "Iliopsoas muscle"),
    "vertebrae_C1": ("14806007", "C1 vertebra"), "vertebrae_C2": ("39976000", "C2 vertebra"),
    "vertebrae_C3": ("113205007", "C3 vertebra"), "vertebrae_C4": ("5329002", "C4 vertebra"),
    "vertebrae_C5": ("36978003", "C5 vertebra"), "vertebrae_C6": ("36054005", "C6 vertebra"),
    "vertebrae_C7": ("87391001", "C7 vertebra"),
    "vertebrae_T1": ("64864005", "T1 vertebra"), "vertebrae_T2": ("53733008", "T2 vertebra"),
    "vertebrae_T3": ("1626008", "T3 vertebra"), "vertebrae_T4": ("73071006", "T4 vertebra"),
    "vertebrae_T5": ("56401006", "T5 vertebra"), "vertebrae_T6": ("45296009", "T6 vertebra"),
    "vertebrae_T7": ("62487009", "T7 vertebra"), "vertebrae_T8": ("11068009", "T8 vertebra"),
    "vertebrae_T9": ("82687006", "T9 vertebra"), "vertebrae_T10": ("7610001", "T10 vertebra"),
    "vertebrae_T11": ("12989004", "T11 vertebra"), "vertebrae_T12": ("23215003", "T12 vertebra"),
    "vertebrae_L1": ("66794005", "L1 vertebra"), "vertebrae_L2": ("14293000", "L2 vertebra"),
    "vertebrae_L3": ("36470004", "L3 vertebra"), "vertebrae_L4": ("11994002", "L4 vertebra"),
    "vertebrae_L5": ("49668003", "L5 vertebra"),
}
RIBS = ("48535007", "First"), ("78247007", "Second"), ("25888004", "Third"), ("25523003", "Fourth"), \
    ("15339008", "Fifth"), ("59558009", "Sixth"), ("24915002", "Seventh"), ("5953002", "Eighth"), \
    ("22565002", "Ninth"), ("77644006", "Tenth"), ("58830002", "Eleventh"), ("43993008", "Twelfth")
CODES.update({f"rib_{number}": (value, f"{ordinal} rib") for number, (value, ordinal) in enumerate(RIBS, start=1)})


@dataclass(frozen=True)
class AnatomicCode:
    """A structure's SNOMED CT type, with its laterality (``LEFT``/``RIGHT``) when it has one."""

    value: str
    meaning: str
    laterality: Optional[tuple[str, str]] = None


def _split_side(name: str) -> tuple[str, Optional[tuple[str, str]]]:
    """``kidney_left`` → (``kidney``, LEFT); ``rib_left_3`` → (``rib_3``, LEFT)."""
    if name in CODES:  # chambers like heart_atrium_left carry the side in their own code
        return name, None
    for side, modifier in (("left", LEFT), ("right", RIGHT)):
        if name.endswith("_" + side):
            return name[: -len(side) - 1], modifier
        if f"_{side}_" in name:
            return name.replace(f"_{side}_", "_"), modifier
    return name, None


def anatomic_code(path: Sequence[str]) -> Optional[AnatomicCode]:
    """The SNOMED CT code of the tree node at ``path``, or None when we have no sure code."""
    base, laterality = _split_side(path[-1])
    code = CODES.get(base)
    if code is None:
        return None
    return AnatomicCode(code[0], code[1], laterality)
