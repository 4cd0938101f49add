"""Cohorts: segment many CTs on a Dask cluster, resumably (``saltseg batch``, :func:`run_batch`).

Inputs become cases (:mod:`.cases`); each Dask worker keeps one loaded model (:mod:`.worker`);
finished cases are recorded in ``manifest.csv`` and skipped on a re-run (:mod:`.manifest`); every
tree node's volume goes to ``volumes.csv`` (:mod:`.volumes`); outputs are any of the formats of
:mod:`saltseg.outputs.formats`. Importing this package needs ``dask[distributed]``.
"""
from .cases import Case, discover_cases
from .manifest import CaseRecord
from .runner import run_batch, summarize

__all__ = ["Case", "CaseRecord", "discover_cases", "run_batch", "summarize"]
