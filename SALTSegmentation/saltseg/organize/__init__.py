"""Organising other models' segmentations (TotalSegmentator, CADS, SNOMED-coded, SALT's own
datasets) into SALT's label tree: name schemes, the extended tree, and the ``organize`` command."""
