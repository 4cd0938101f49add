"""Slicer terminology entries for SALT's structures, from the engine's SNOMED CT codes.

A structure without a code (e.g. "muscles, other") gets no ``TerminologyEntry`` tag, so Slicer
shows its readable name rather than a wrong code.
"""
from __future__ import annotations

from typing import Optional, Sequence

from saltseg.tree.anatomic_codes import SCHEME, anatomic_code

TERMINOLOGY_TAG = "TerminologyEntry"
#: The context of the module's own terminology file (``terminology_file``), which Slicer loads at
#: start-up: Slicer's default list lacks many of SALT's types (vertebrae, ribs, gluteus muscles…).
TERMINOLOGY_CONTEXT = "SALT Segmentation category and type"
_ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
ANATOMICAL_STRUCTURE = "SCT^123037004^Anatomical Structure"


def terminology_entry(path: Sequence[str]) -> Optional[str]:
    """Slicer's serialized terminology entry for the node at ``path``, or None without a code."""
    code = anatomic_code(path)
    if code is None:
        return None
    modifier = f"{SCHEME}^{code.laterality[0]}^{code.laterality[1]}" if code.laterality else "^^"
    return "~".join([TERMINOLOGY_CONTEXT, ANATOMICAL_STRUCTURE, f"{SCHEME}^{code.value}^{code.meaning}", modifier,
                      _ANATOMIC_CONTEXT, "^^", "^^"])
