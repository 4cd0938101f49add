"""Slicer's own 3D displayable manager (slicer-core) draws the segmentation offscreen, and hiding
one subtree with one call removes exactly its structures from the picture."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slicer_test_support import require_shared_data

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": os.environ.get("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")}
PROBE = ("import vtk; w = vtk.vtkRenderWindow(); w.SetOffScreenRendering(1); w.AddRenderer(vtk.vtkRenderer()); "
         "w.SetSize(8, 8); w.Render(); print('ok')")


def _offscreen_opengl_works() -> bool:
    # In a subprocess: without a usable OpenGL context VTK may abort the whole process.
    probe = subprocess.run([sys.executable, "-c", PROBE], env=ENV, capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and "ok" in probe.stdout


def test_3d_view_png_with_one_subtree_hidden(tmp_path):
    require_shared_data()
    if not _offscreen_opengl_works():
        pytest.skip("no offscreen OpenGL (EGL) on this machine")
    out = tmp_path / "view.png"
    run = subprocess.run([sys.executable, str(HERE / "render_3d_view.py"), str(out)], env=ENV,
                         capture_output=True, text=True, timeout=300, cwd=HERE.parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["actors_before"] == result["segments"] > 30  # one surface per structure
    assert result["hidden"] and all(sid.startswith("body,muscles,") for sid in result["hidden"])
    assert result["actors_after"] == result["actors_before"] - len(result["hidden"])
    assert result["changed_pixels"] > 1000  # the hidden muscles really left the picture
