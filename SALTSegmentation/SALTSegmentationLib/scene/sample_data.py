"""The CT phantom as Slicer sample data, so *Segment* can be tried with no network.

The phantom is generated on first use (a few seconds; same seed, same voxels) into a folder —
Slicer's sample-data cache — and loaded from there afterwards. The loaded volume carries the id of
the bundled demonstration model in a node attribute; ``segment(volume)`` without a model then
uses that model, so the sample works offline even when the published model is not installed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

#: Name in Slicer's Sample Data module and of the loaded volume node.
PHANTOM_SAMPLE_NAME = "SALTPhantom"
PHANTOM_SAMPLE_CATEGORY = "SALT Segmentation"
#: A phantom seed never used to train or validate the demo model (see its training.json).
PHANTOM_SEED = 3000
#: Volume node attribute naming the model meant for this volume (used when no model is chosen).
SUGGESTED_MODEL_ATTRIBUTE = "SALT.SuggestedModel"
#: The bundled demonstration model (``saltseg.models.catalog.DEMO_MODEL_ID``; a test keeps them
#: equal). Spelled out here because the registry imports torch, which Slicer's process must not.
DEMO_MODEL_ID = "salt-phantom-demo"


def phantom_file_name(seed: int = PHANTOM_SEED) -> str:
    return f"{PHANTOM_SAMPLE_NAME}_{seed:05d}.nii.gz"


def phantom_ct_file(folder: Path, seed: int = PHANTOM_SEED) -> Path:
    """Path of the phantom CT in ``folder``, generated (atomically) if it is not there yet."""
    path = Path(folder) / phantom_file_name(seed)
    if path.is_file() and path.stat().st_size > 0:
        return path
    from saltseg.atomic import atomic_write
    from saltseg.io.writers import write_with_sitk
    from saltseg.phantom import generate_phantom

    path.parent.mkdir(parents=True, exist_ok=True)
    image = generate_phantom(seed).image
    return atomic_write(path, lambda tmp: write_with_sitk(image, tmp), suffix=".nii.gz")


def load_phantom(scene: Any, folder: Path, seed: int = PHANTOM_SEED):
    """Generate (if needed) and load the phantom CT into ``scene``; returns the volume node."""
    path = phantom_ct_file(folder, seed)
    storage = scene.CreateNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    volume = scene.CreateNodeByClass("vtkMRMLScalarVolumeNode")
    try:
        if not storage.ReadData(volume):
            raise RuntimeError(f"cannot read the phantom CT {path}")
        volume.SetName(scene.GenerateUniqueName(PHANTOM_SAMPLE_NAME))
        volume.SetAttribute(SUGGESTED_MODEL_ATTRIBUTE, DEMO_MODEL_ID)
        scene.AddNode(storage)
        volume.SetAndObserveStorageNodeID(storage.GetID())
        scene.AddNode(volume)
        volume.CreateDefaultDisplayNodes()
    finally:
        storage.UnRegister(None)  # CreateNodeByClass hands over a reference
        volume.UnRegister(None)
    return volume


def suggested_model(volume: Any) -> Optional[str]:
    """The model a volume asks for (the phantom: the demo model), or None. The phantom loaded by
    ``SampleData.downloadSample`` (Slicer's own loader: no attribute) is known by its file name."""
    if volume is None:
        return None
    named = volume.GetAttribute(SUGGESTED_MODEL_ATTRIBUTE)
    if named:
        return named
    storage = volume.GetStorageNode()
    file_name = Path(storage.GetFileName() or "").name if storage is not None else ""
    return DEMO_MODEL_ID if re.fullmatch(rf"{PHANTOM_SAMPLE_NAME}_\d{{5}}\.nii\.gz", file_name) else None


def phantom_source_file(cache_folder: Path, seed: int = PHANTOM_SEED) -> Path:
    """Where the phantom is generated for ``SampleData.downloadSample``, which then copies it into
    the cache like a download (a file URI must not point at the download's own destination)."""
    return Path(cache_folder) / f"{PHANTOM_SAMPLE_NAME}-source" / phantom_file_name(seed)


def phantom_url_rewrite_rule(source: Path) -> Callable[[str], str]:
    """A SampleData URL rewrite rule that generates the phantom when its URI is requested."""
    uri = source.as_uri()

    def rewrite(url: str) -> str:
        if url == uri:
            phantom_ct_file(source.parent)
        return url

    return rewrite


def register_phantom_sample(sample_data_logic: Any, cache_folder: Callable[[], str], loader: Callable[[], Any],
                            thumbnail: Optional[str] = None) -> None:
    """Add the phantom to Slicer's Sample Data module (``SampleData.SampleDataLogic``).

    The button calls ``loader`` (newer Slicer passes the source as an argument, older ones none).
    ``SampleData.downloadSample("SALTPhantom")`` downloads the URI instead: a URL rewrite rule
    (Slicer ≥ 5.10) generates the file it points to first; ``logic.loadPhantom()`` works in every case."""
    source = phantom_source_file(Path(cache_folder()))
    register_rule = getattr(sample_data_logic, "registerUrlRewriteRule", None)
    if register_rule is not None:
        register_rule(PHANTOM_SAMPLE_NAME, phantom_url_rewrite_rule(source))
    sample_data_logic.registerCustomSampleDataSource(
        category=PHANTOM_SAMPLE_CATEGORY,
        sampleName=PHANTOM_SAMPLE_NAME,
        uris=source.as_uri(),
        fileNames=phantom_file_name(),
        nodeNames=PHANTOM_SAMPLE_NAME,
        thumbnailFileName=thumbnail,
        loadFileType="VolumeFile",
        customDownloader=lambda *source: loader(),
    )
