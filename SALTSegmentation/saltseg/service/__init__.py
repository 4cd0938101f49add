"""The engine as a separate process for front ends that must not load torch themselves (the Slicer
module): ``python -m saltseg.service serve`` segments requests read from stdin with one loaded
model, ``python -m saltseg.service info|download|install|remove`` manage models. Both speak
:mod:`.protocol` (JSON lines) on stdout."""
