"""docs/render_screenshots.py draws the documentation's pictures from a real MRML scene: Slicer's
slice and 3D displayable managers draw the CT and the segmentation, unchecking a subtree removes
exactly its structures, and the panel and table pictures hold what the module's panel model and
statistics table node hold."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slicer_test_support import require_shared_data
from test_slicer_render import ENV, _offscreen_opengl_works

REPOSITORY = Path(__file__).resolve().parents[2]
PICTURES = ["overview.png", "salt_3d_muscles_hidden.png", "slice_views.png", "statistics_table.png",
            "structures_panel.png", "subtree_hidden.png"]
SCREENSHOTS = ["salt_3d_muscles_hidden.png", "salt_overview.png"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    require_shared_data()
    if not _offscreen_opengl_works():
        pytest.skip("no offscreen OpenGL (EGL) on this machine")
    out = tmp_path_factory.mktemp("pictures")
    run = subprocess.run([sys.executable, str(REPOSITORY / "docs" / "render_screenshots.py"), "--out", str(out)],
                         env=ENV, capture_output=True, text=True, timeout=300, cwd=REPOSITORY)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    return out, result


def test_every_picture_is_written_as_png(rendered):
    out, _ = rendered
    written = [out / name for name in PICTURES] + [out / "Screenshots" / name for name in SCREENSHOTS]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in written)


def test_unchecking_muscles_hides_only_muscle_segments(rendered):
    _, result = rendered
    assert result["hidden"] and all(segment.startswith("body,muscles,") for segment in result["hidden"])


def test_the_slice_view_draws_the_ct_under_the_segmentation(rendered):
    _, result = rendered
    assert result["axial_gray_pixels"] > 20000  # the CT, grey, where no segment covers it


def test_hiding_a_subtree_changes_the_slice_view(rendered):
    _, result = rendered
    assert result["axial_changed_pixels"] > 1000  # the back muscles' fill left the axial view


def test_the_panel_picture_shows_the_hidden_subtree_unchecked_and_its_parent_partial(rendered):
    _, result = rendered
    states = dict(result["panel_rows"])
    assert (states["body"], states["body,muscles"], states["body,bones"]) == ("partial", "unchecked", "checked")


def test_the_table_picture_reads_the_exported_table_node(rendered):
    _, result = rendered
    assert result["table_rows"] == 144  # every node of the published tree but the background leaf
