"""Renders every picture of the documentation and of the Extensions Index, offscreen, from a real
MRML scene (slicer-core wheel, no Slicer GUI):

    python docs/render_screenshots.py                 # docs/images/*.png and Resources/Screenshots/*.png
    python docs/render_screenshots.py --out DIR       # everything into DIR instead (for a look, or a test)

The scene: the test CT (``../shared/data``) and a segmentation holding its 41 reference structures
as leaves of SALT's published label tree, imported by the module's own importer. Slice views are
drawn by Slicer's slice logic and segmentation displayable manager
(``Testing/Python/render_slice_view.py``), 3D views by its 3D segmentation displayable manager
(``Testing/Python/render_3d_view.py``). The module's Qt panels cannot be drawn without Slicer's
GUI, so the Structures panel is drawn with matplotlib from the module's own Qt-free panel model
(the labels, check states, colours, volumes and mean HU the widget shows), and the statistics
table from the ``vtkMRMLTableNode`` that *Export table* creates. The probability heat map
(``probability_overlay.png``) comes from a scene of its own: the CT phantom sample segmented by the
bundled demo model in a real engine process (``Testing/Python/render_probability_overlay.py``).
Prints one ``RESULT {json}`` line with what was drawn (for ``Testing/Python/test_docs_pictures.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "Testing" / "Python"))
sys.path.insert(0, str(REPOSITORY / "SALTSegmentation"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from render_3d_view import OffscreenThreeDView  # noqa: E402
from render_probability_overlay import render_probability_overlay  # noqa: E402
from render_slice_view import OffscreenSliceView, add_default_colors, show_as_ct  # noqa: E402
from slicer_test_support import TREE_PATH, load_ct, new_scene, reference_result  # noqa: E402

HIDDEN_SUBTREE = "body,muscles"
#: Rows of the Structures panel picture that are expanded (the others are drawn collapsed).
EXPANDED = ("body", "body,abdominal_cavity", "body,abdominal_cavity,kidneys", "body,bones", "body,bones,spine",
            "body,bones,spine,lumbar_spine", "body,muscles")
#: Slicer's slice view colours (the bar above each view).
VIEW_COLORS = {"Red": "#f34a33", "Yellow": "#edd54c", "Green": "#6eb04b", "3D": "#a8a8d8"}
#: Pixels of the axial and 3D views (the test CT's in-plane extent, 366 × 303 mm, fills the axial one).
VIEW_SIZE = (420, 350)
DPI = 100
FONT = {"family": "DejaVu Sans", "size": 10}


# ---------------------------------------------------------------------------------------- the scene
class Scene:
    """The CT and its segmentation in a real MRML scene, with the module's Logic on it."""

    def __init__(self) -> None:
        from saltseg.tree.labeltree import LabelTree
        from SALTSegmentationLib.scene.importer import import_result
        from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore

        self.tree = LabelTree.from_tree_labels_file(TREE_PATH)
        self.scene = new_scene()
        add_default_colors(self.scene)
        self.volume = load_ct(self.scene)
        show_as_ct(self.volume)
        self.segmentation = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
        self.segmentation.CreateDefaultDisplayNodes()
        self.result = reference_result(self.tree)
        import_result(self.result, self.segmentation, self.volume)
        self.logic = SegmentationLogicCore()

    def center_ras(self, node: str) -> tuple[float, float, float]:
        """The centre (RAS, mm) of every voxel of ``node``'s subtree, where the views look."""
        import SimpleITK as sitk

        mask = sitk.GetArrayFromImage(self.result.node_mask(node))
        k, j, i = (float(np.mean(axis)) for axis in np.nonzero(mask))
        x, y, z = self.result.labelmap.TransformContinuousIndexToPhysicalPoint((i, j, k))
        return -x, -y, z  # LPS → RAS

    def set_hidden(self, hidden: bool) -> list[str]:
        return self.logic.setSubtreeVisibility(self.segmentation, HIDDEN_SUBTREE, not hidden) or []


# ---------------------------------------------------------------------------------------- views
def slice_view(scene: Scene, name: str, size: tuple[int, int], ras) -> OffscreenSliceView:
    view = OffscreenSliceView(scene.scene, scene.volume, name, size)
    view.jump_to(ras)
    return view


BAR = 22  # pixels of the bar above each view


def _figure(width_px: int, height_px: int):
    figure = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    figure.patch.set_facecolor("white")
    return figure


def _place(figure, left: int, top: int, width: int, height: int):
    """Axes at a pixel box of ``figure`` (``top`` from the figure's top)."""
    figure_width, figure_height = figure.get_size_inches() * DPI
    return figure.add_axes((left / figure_width, 1 - (top + height) / figure_height,
                            width / figure_width, height / figure_height))


def _view(figure, left: int, top: int, image: np.ndarray, title: str, color: str) -> int:
    """``image`` at its own size under a bar in the view's colour, as Slicer's view controllers
    show it; returns the height used."""
    height, width = image.shape[:2]
    bar = _place(figure, left, top, width, BAR)
    bar.set_facecolor(color)
    bar.set_xticks([])
    bar.set_yticks([])
    for spine in bar.spines.values():
        spine.set_visible(False)
    bar.text(0.012, 0.5, title, va="center", ha="left", fontdict={**FONT, "size": 9})
    axes = _place(figure, left, top + BAR, width, height)
    axes.imshow(image, interpolation="nearest")
    axes.set_axis_off()
    return BAR + height


def slice_views_figure(axial: np.ndarray, coronal: np.ndarray, sagittal: np.ndarray, path: Path) -> None:
    gap = 8
    width = axial.shape[1] + coronal.shape[1] + 3 * gap
    height = BAR + axial.shape[0] + 2 * gap
    figure = _figure(width, height)
    _view(figure, gap, gap, axial, "Red: axial", VIEW_COLORS["Red"])
    right = axial.shape[1] + 2 * gap
    used = _view(figure, right, gap, coronal, "Green: coronal", VIEW_COLORS["Green"])
    _view(figure, right, gap + used + gap, sagittal, "Yellow: sagittal", VIEW_COLORS["Yellow"])
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def subtree_hidden_figure(axial_all, axial_hidden, three_all, three_hidden, path: Path) -> None:
    gap = 8
    size = axial_all.shape[1]
    figure = _figure(2 * size + 3 * gap, 2 * (BAR + size) + 3 * gap)
    for column, (axial, three_d, title) in enumerate(((axial_all, three_all, "every structure"),
                                                     (axial_hidden, three_hidden, f"{HIDDEN_SUBTREE} hidden"))):
        left = gap + column * (size + gap)
        used = _view(figure, left, gap, axial, f"Red: {title}", VIEW_COLORS["Red"])
        _view(figure, left, 2 * gap + used, three_d, f"3D: {title}", VIEW_COLORS["3D"])
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


# ---------------------------------------------------------------------------------------- the panel
def panel_rows(model, expanded: tuple[str, ...] = EXPANDED) -> list[dict]:
    """The rows the Structures panel shows with ``expanded`` open, top to bottom, as the widget
    builds them (``TreePanelView._add_children``)."""
    rows: list[dict] = []

    def add(parent, depth: int) -> None:
        for node in model.children(parent):
            node_id = model.node_id(node)
            has_children = bool(model.children(node))
            mean_hu = model.mean_hu(node)
            rows.append({"node": node_id, "label": model.label(node), "depth": depth,
                         "state": model.check_state(node).name.lower(), "has_children": has_children,
                         "open": has_children and node_id in expanded,
                         "color": model.color(node) if model.segment_for(node) is not None else None,
                         "volume": f"{model.volume_ml(node):.1f}",
                         "mean_hu": "" if mean_hu is None else f"{mean_hu:.0f}"})
            if has_children and node_id in expanded:
                add(node, depth + 1)

    add(None, 0)
    return rows


def _check_box(axes, x: float, y: float, state: str) -> None:
    axes.add_patch(Rectangle((x, y - 6), 12, 12, facecolor="white", edgecolor="#5a5a5a", linewidth=1))
    if state == "checked":
        axes.plot([x + 2.5, x + 5, x + 9.5], [y, y + 3.5, y - 3.5], color="#1f1f1f", linewidth=1.6)
    elif state == "partial":
        axes.add_patch(Rectangle((x + 3, y - 3), 6, 6, facecolor="#3d3d3d", edgecolor="none"))


def _branch_arrow(axes, x: float, y: float, is_open: bool) -> None:
    points = [(x, y - 3), (x + 8, y - 3), (x + 4, y + 3)] if is_open else [(x + 1, y - 4), (x + 1, y + 4), (x + 7, y)]
    axes.add_patch(Polygon(points, closed=True, facecolor="#4a4a4a", edgecolor="none"))


def structures_panel_figure(rows: list[dict], path: Path) -> None:
    """The panel as the widget draws it: header, then one row per node (branch arrow, tri-state
    check box, the segment's colour for leaves, label, volume, mean HU)."""
    width, row_height, header = 520, 22, 26
    height = header + row_height * len(rows) + 4
    figure = _figure(width, height)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_axis_off()
    axes.add_patch(Rectangle((0, 0), width, header, facecolor="#ececec", edgecolor="#c8c8c8"))
    for x, text, align in ((8, "Structure", "left"), (width - 92, "Volume (mL)", "right"),
                           (width - 8, "Mean HU", "right")):
        axes.text(x, header / 2, text, va="center", ha=align, fontdict=FONT)
    for index, row in enumerate(rows):
        y = header + row_height * index + row_height / 2
        if index % 2:
            axes.add_patch(Rectangle((0, y - row_height / 2), width, row_height, facecolor="#f6f6f6",
                                     edgecolor="none"))
        x = 6 + 18 * row["depth"]
        if row["has_children"]:
            _branch_arrow(axes, x, y, row["open"])
        x += 14
        _check_box(axes, x, y, row["state"])
        x += 18
        if row["color"] is not None:
            axes.add_patch(Rectangle((x, y - 6), 12, 12, facecolor=row["color"], edgecolor="#404040",
                                     linewidth=0.5))
            x += 17
        axes.text(x, y, row["label"], va="center", ha="left", fontdict=FONT,
                  color="#1f1f1f" if row["state"] != "unchecked" else "#6a6a6a")
        axes.text(width - 92, y, row["volume"], va="center", ha="right", fontdict=FONT)
        axes.text(width - 8, y, row["mean_hu"], va="center", ha="right", fontdict=FONT)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


# ---------------------------------------------------------------------------------------- the table
def table_cells(table_node, rows: int) -> tuple[list[str], list[list[str]]]:
    """Column headers (the table node's titles and units, what its table view shows) and the
    first ``rows`` rows of a vtkMRMLTableNode that hold voxels (empty tree nodes left out)."""
    table = table_node.GetTable()
    names = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    headers = []
    for name in names:
        unit = table_node.GetColumnUnitLabel(name)
        headers.append(table_node.GetColumnTitle(name) + (f" ({unit})" if unit else ""))
    voxels = names.index("voxels")
    cells = []
    for r in range(table.GetNumberOfRows()):
        values = [table.GetValue(r, c).ToString() for c in range(len(names))]
        if int(values[voxels]) > 0:
            cells.append(values)
        if len(cells) == rows:
            break
    return headers, cells


def _shown(value: str) -> str:
    """A number with one decimal where it has any (as the table view rounds), text as it is."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.1f}"


def statistics_table_figure(headers: list[str], cells: list[list[str]], total_rows: int, path: Path) -> None:
    shown = [[_shown(value) for value in row] for row in cells]
    widths = [max(_text_width(text) for text in (headers[c], *(row[c] for row in shown))) + 12
              for c in range(len(headers))]
    row_height = 21
    width = int(sum(widths)) + 16
    height = row_height * (len(shown) + 1) + 30
    figure = _figure(width, height)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_axis_off()
    numeric = [all(_is_number(row[c]) for row in shown) for c in range(len(headers))]
    for index, row in enumerate([headers, *shown]):
        top = 8 + row_height * index
        axes.add_patch(Rectangle((8, top), width - 16, row_height,
                                 facecolor="#ececec" if index == 0 else ("#f6f6f6" if index % 2 == 0 else "white"),
                                 edgecolor="#d0d0d0", linewidth=0.6))
        x = 8.0
        for column, text in enumerate(row):
            cell = widths[column]
            right = index > 0 and numeric[column]
            axes.text(x + cell - 5 if right else x + 5, top + row_height / 2, text, va="center",
                      ha="right" if right else "left", fontdict={**FONT, "size": 9})
            x += cell
            if index == 0 and column < len(row) - 1:
                axes.plot([x, x], [top, top + row_height], color="#d0d0d0", linewidth=0.6)
    axes.text(10, height - 10, f"First {len(shown)} non-empty rows; the table has one row per tree node "
              f"({total_rows}).", va="center", ha="left", fontdict={**FONT, "size": 8}, color="#555555")
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def _text_width(text: str) -> float:
    """Pixels ``text`` takes in the table's font."""
    figure = _figure(100, 100)
    label = figure.text(0, 0, text, fontdict={**FONT, "size": 9})
    width = label.get_window_extent(figure.canvas.get_renderer()).width
    plt.close(figure)
    return width


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------- overview
def overview_figure(panel_path: Path, axial: np.ndarray, three_d: np.ndarray, path: Path) -> None:
    """The Structures panel beside the slice and 3D views, as the module's screen has them."""
    gap = 8
    panel = plt.imread(panel_path)
    height = BAR + axial.shape[0]
    panel = panel[:height]
    figure = _figure(panel.shape[1] + axial.shape[1] + three_d.shape[1] + 4 * gap, height + 2 * gap)
    axes = _place(figure, gap, gap, panel.shape[1], panel.shape[0])
    axes.imshow(panel, interpolation="nearest")
    axes.set_axis_off()
    left = panel.shape[1] + 2 * gap
    _view(figure, left, gap, axial, "Red: axial", VIEW_COLORS["Red"])
    _view(figure, left + axial.shape[1] + gap, gap, three_d, f"3D: {HIDDEN_SUBTREE} hidden", VIEW_COLORS["3D"])
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def _png(image: np.ndarray, path: Path) -> None:
    from render_3d_view import write_png

    write_png(image, path)


def render(docs_images: Path, screenshots: Path) -> dict:
    """Every picture; returns what was drawn."""
    docs_images.mkdir(parents=True, exist_ok=True)
    screenshots.mkdir(parents=True, exist_ok=True)
    scene = Scene()
    kidneys = scene.center_ras("body,abdominal_cavity,kidneys")
    spine = scene.center_ras("body,bones,spine")
    look_at = (spine[0], kidneys[1], kidneys[2])  # the spine's midline, the kidneys' depth and level
    axial_view = slice_view(scene, "Red", VIEW_SIZE, look_at)
    axial = axial_view.capture()
    coronal = slice_view(scene, "Green", (VIEW_SIZE[0], 150), look_at).capture()
    sagittal = slice_view(scene, "Yellow", (VIEW_SIZE[0], 150), look_at).capture()
    slice_views_figure(axial, coronal, sagittal, docs_images / "slice_views.png")

    scene.segmentation.CreateClosedSurfaceRepresentation()
    scene.segmentation.GetDisplayNode().SetPreferredDisplayRepresentationName3D("Closed surface")
    three_d = OffscreenThreeDView(scene.scene, size=VIEW_SIZE)
    three_all = three_d.capture()
    hidden = scene.set_hidden(True)
    axial_hidden = axial_view.capture()
    three_hidden = three_d.capture()
    subtree_hidden_figure(axial, axial_hidden, three_all, three_hidden, docs_images / "subtree_hidden.png")
    gap = np.full((three_all.shape[0], 8, 3), 255, dtype=np.uint8)
    for folder in (docs_images, screenshots):
        _png(np.concatenate([three_all, gap, three_hidden], axis=1), folder / "salt_3d_muscles_hidden.png")

    model = scene.logic.treePanelModel(scene.segmentation, scene.volume)
    rows = panel_rows(model)
    structures_panel_figure(rows, docs_images / "structures_panel.png")

    table_node = scene.logic.exportStatisticsTable(scene.segmentation, scene.volume)
    columns, cells = table_cells(table_node, 16)
    total_rows = table_node.GetTable().GetNumberOfRows()
    statistics_table_figure(columns, cells, total_rows, docs_images / "statistics_table.png")

    overview_figure(docs_images / "structures_panel.png", axial_hidden, three_hidden, docs_images / "overview.png")
    (screenshots / "salt_overview.png").write_bytes((docs_images / "overview.png").read_bytes())

    with tempfile.TemporaryDirectory(prefix="salt-probability-overlay-") as folder:  # the phantom and its maps
        probability = render_probability_overlay(docs_images / "probability_overlay.png", Path(folder))

    changed = np.abs(axial.astype(int) - axial_hidden.astype(int)).sum(axis=2) > 30
    channels = axial.astype(int)
    gray = (np.ptp(channels, axis=2) <= 2) & (channels[:, :, 0] > 40)  # the CT where no segment is
    return {"hidden": hidden, "panel_rows": rows, "table_columns": columns, "table_rows": total_rows,
            "axial_changed_pixels": int(changed.sum()), "axial_gray_pixels": int(gray.sum()),
            "probability_shown": probability["shown"],
            "files": sorted(p.name for p in [*docs_images.glob("*.png"), *screenshots.glob("*.png")])}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write every picture into this folder instead")
    args = parser.parse_args(argv)
    docs_images = args.out if args.out else REPOSITORY / "docs" / "images"
    screenshots = args.out / "Screenshots" if args.out else REPOSITORY / "Resources" / "Screenshots"
    result = render(docs_images, screenshots)
    print("RESULT " + json.dumps({key: value for key, value in result.items() if key != "panel_rows"}
                                 | {"panel_rows": [(r["node"], r["state"]) for r in result["panel_rows"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
