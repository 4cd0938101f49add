"""Talking to the engine process and to helper processes (pip): no MRML, no widgets."""
