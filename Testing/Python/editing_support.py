"""A SALT result being corrected in the Segment Editor, for the editing tests and the tree panel
benchmark (no tests here): the shared CT and its TotalSegmentator labels (mapped to SALT leaves)
upsampled to any grid, e.g. 512×512×300, imported into real MRML; paint strokes made the way the
Segment Editor's Paint effect makes them; and the numbers the panel must show, computed with numpy
alone from the label array."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from slicer_test_support import CT_PATH, new_scene, salt_labels

LIVER = ("body", "abdominal_cavity", "liver")
SPLEEN = ("body", "abdominal_cavity", "spleen")


@dataclass
class EditingScene:
    scene: "slicer.vtkMRMLScene"
    volume: "slicer.vtkMRMLScalarVolumeNode"
    segmentation: "slicer.vtkMRMLSegmentationNode"
    tree: object
    ct: np.ndarray  # k, j, i HU (the volume node's own voxels)
    labels: np.ndarray  # k, j, i SALT leaf values, kept in step with the strokes made through `paint`


def _upsampled(array: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest-neighbour resampling by index (k, j, i), so every voxel keeps a real value."""
    index = np.ix_(*[np.arange(n) * array.shape[axis] // n for axis, n in enumerate(shape)])
    return np.ascontiguousarray(array[index])


def volume_from_array(scene, array: np.ndarray, image: sitk.Image, shape, name: str = "CT"):
    """A scalar volume node holding ``array`` (k, j, i) on ``image``'s field of view cut into ``shape``."""
    spacing = [s * n / m for s, n, m in zip(image.GetSpacing(), image.GetSize(), shape[::-1])]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    matrix = vtk.vtkMatrix4x4()
    axes = lps_to_ras @ direction @ np.diag(spacing)
    origin = lps_to_ras @ np.array(image.GetOrigin())
    for row in range(3):
        for column in range(3):
            matrix.SetElement(row, column, axes[row, column])
        matrix.SetElement(row, 3, origin[row])
    data = vtk.vtkImageData()
    data.SetDimensions(shape[2], shape[1], shape[0])
    data.GetPointData().SetScalars(numpy_support.numpy_to_vtk(array.ravel(), deep=True))
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    volume.SetAndObserveImageData(data)
    volume.SetIJKToRASMatrix(matrix)
    volume.CreateDefaultDisplayNodes()
    return volume


def editing_scene(tree, shape: tuple[int, int, int] = (30, 101, 122)) -> EditingScene:
    """A SALT result on a CT of ``shape`` (k, j, i), imported as the module imports one."""
    from saltseg.inference.pipeline import SegmentationResult
    from SALTSegmentationLib.scene.importer import import_result

    labels, seg = salt_labels(tree)
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(CT_PATH))).astype(np.int16)
    if tuple(shape) != labels.shape:
        labels, ct = _upsampled(labels, shape), _upsampled(ct, shape)
    scene = new_scene()
    volume = volume_from_array(scene, ct, seg, shape)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    node.CreateDefaultDisplayNodes()
    labelmap = sitk.GetImageFromArray(labels)
    import_result(SegmentationResult(labelmap, tree, "editing"), node, volume)
    return EditingScene(scene, volume, node, tree, numpy_support.vtk_to_numpy(
        volume.GetImageData().GetPointData().GetScalars()).reshape(shape), labels.copy())


def segment_id_of(editing: EditingScene, path: tuple[str, ...]) -> str:
    return ",".join(path)  # the importer uses the tree path as the segment ID


def paint(editing: EditingScene, path: tuple[str, ...], center_kji, radius: int) -> np.ndarray:
    """One Paint stroke (a ball of ``radius`` voxels) on the segment of ``path``, as the Segment
    Editor applies it with "Modify other segments: Overwrite all" (the default): a modifier labelmap
    on the CT's grid, cropped to the stroke, merged with MODE_MERGE_MASK. Returns the stroke's mask
    (k, j, i, CT grid) and records it in ``editing.labels``."""
    shape = editing.ct.shape
    low = [max(c - radius, 0) for c in center_kji]
    high = [min(c + radius, n - 1) for c, n in zip(center_kji, shape)]
    k, j, i = np.ogrid[low[0]:high[0] + 1, low[1]:high[1] + 1, low[2]:high[2] + 1]
    ball = (k - center_kji[0]) ** 2 + (j - center_kji[1]) ** 2 + (i - center_kji[2]) ** 2 <= radius ** 2
    modifier = slicer.vtkOrientedImageData()
    modifier.SetExtent(low[2], high[2], low[1], high[1], low[0], high[0])
    modifier.GetPointData().SetScalars(numpy_support.numpy_to_vtk((ball * 1).astype(np.uint8).ravel(), deep=True))
    matrix = vtk.vtkMatrix4x4()
    editing.volume.GetIJKToRASMatrix(matrix)
    modifier.SetImageToWorldMatrix(matrix)
    segment_id = segment_id_of(editing, path)
    segmentation = editing.segmentation.GetSegmentation()
    others = [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())
              if segmentation.GetNthSegmentID(n) != segment_id]
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    assert logic.SetBinaryLabelmapToSegment(modifier, editing.segmentation, segment_id, logic.MODE_MERGE_MASK,
                                            modifier.GetExtent(), False, others)
    mask = np.zeros(shape, dtype=bool)
    mask[low[0]:high[0] + 1, low[1]:high[1] + 1, low[2]:high[2] + 1] = ball
    editing.labels[mask] = editing.tree.label_value(editing.tree.index(path))
    return mask


def expected_numbers(editing: EditingScene, voxel_ml: float) -> dict[str, tuple[int, float, float]]:
    """Tree path → (voxels, volume mL, mean HU) of every node with voxels, from the label array alone
    (an internal node: the union of its leaves)."""
    tree = editing.tree
    counts, sums = np.zeros(256, dtype=np.int64), np.zeros(256)
    for start in range(0, editing.labels.shape[0], 16):  # in slabs: bounded temporaries
        labels = editing.labels[start:start + 16].ravel()
        counts += np.bincount(labels, minlength=256)
        sums += np.bincount(labels, weights=editing.ct[start:start + 16].ravel().astype(np.float64), minlength=256)
    numbers = {}
    for node in range(len(tree)):
        values = [tree.label_value(leaf) for leaf in tree.subtree(node) if tree.is_leaf(leaf)
                  and tree.label_value(leaf) != tree.background_value]
        voxels = int(sum(counts[v] for v in values))
        if voxels:
            numbers[tree.node_id(node)] = (voxels, voxels * voxel_ml, float(sum(sums[v] for v in values)) / voxels)
    return numbers


class RecordingTimer:
    """The widget's single-shot QTimer: running or not; the test fires it (``fire``)."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    def start(self) -> None:
        self.running, self.starts = True, self.starts + 1

    def stop(self) -> None:
        self.running = False


class RecordingDrawing:
    """The Qt tree widget's part of the panel: records what it was asked to draw."""

    def __init__(self) -> None:
        self.models: list = []
        self.numbers: list[set] = []
        self.check_refreshes = 0
        self.errors: list[str] = []

    def show_model(self, model, segmentation_node) -> None:
        self.models.append(model)

    def show_numbers(self, nodes: set) -> None:
        self.numbers.append(set(nodes))

    def refresh_check_states(self) -> None:
        self.check_refreshes += 1

    def show_error(self, message: str) -> None:
        self.errors.append(message)


def panel_sync():
    """A :class:`TreePanelSync` drawing into a :class:`RecordingDrawing`, on a :class:`RecordingTimer`."""
    from SALTSegmentationLib.widgets.tree_panel_sync import TreePanelSync

    drawing, timer = RecordingDrawing(), RecordingTimer()
    return TreePanelSync(drawing, timer.start, timer.stop), drawing, timer


def fire(timer: RecordingTimer, sync) -> None:
    """The timer's timeout (only if it is running, as a QTimer)."""
    if timer.running:
        timer.running = False
        sync.flush()


def panel_numbers(model) -> dict[str, tuple[float, float]]:
    """Tree path → (volume mL, mean HU) of every node the panel shows."""
    return {model.node_id(n): (model.volume_ml(n), model.mean_hu(n)) for n in model.shown_nodes()}


def assert_numbers_match(shown: dict, expected: dict) -> None:
    """The shown nodes are exactly the nodes with voxels, each with the expected numbers."""
    assert set(shown) == set(expected), set(shown) ^ set(expected)
    for node, (volume, mean_hu) in shown.items():
        _, expected_volume, expected_hu = expected[node]
        assert abs(volume - expected_volume) <= 1e-9 * max(1.0, expected_volume), (node, volume, expected_volume)
        assert mean_hu is not None and abs(mean_hu - expected_hu) <= 1e-9 * max(1.0, abs(expected_hu)), \
            (node, mean_hu, expected_hu)
