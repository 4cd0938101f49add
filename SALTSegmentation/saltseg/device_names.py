"""The compute devices a user can name, without torch (front ends that must not load it, such as
the Slicer module, check a job's device by these)."""
from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: ``cuda:N`` picks one GPU.
DEVICE_PATTERN = r"cuda:\d+"
