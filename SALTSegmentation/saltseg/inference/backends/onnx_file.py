"""The network cut out of ``model.pt`` as an ONNX file, converted once per model and cached.

The file sits beside ``model.pt`` (``model-<sha256 prefix>.<kind>.onnx``, kind ``features`` or
``logits``), keyed by the checksum
of ``model.pt`` so a replaced model never meets a stale conversion (the replaced model's own
conversion is removed once the new one is written), and is written atomically so
an interrupted conversion leaves nothing behind. A read-only model folder (a shared install, a
registry copy owned by someone else) falls back to the user's cache folder
(``$SALTSEG_CACHE_DIR`` or the platform's cache dir), and so do models shipped inside the
package (the demo model).

A conversion holds a lock on its target (two processes never convert the same model at once) and,
holding it, first removes the partial files of that target that an earlier, killed conversion left
(up to the size of the model each): with the lock held, none of them is being written by a live
process.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Optional

import platformdirs
import torch

from ...atomic import atomic_write, remove_stale_parts
from ...model.logits import LogitsFunction
from ...model.model_io import MODEL_FILE
from ...models.lock import ProcessLock

logger = logging.getLogger(__name__)

ENV_CACHE = "SALTSEG_CACHE_DIR"
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "windows", "output"


def user_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE, "").strip()
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("saltseg")) / "networks"


def model_checksum(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / MODEL_FILE).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


#: Models shipped inside the package (the demo model) are never written beside: that would
#: change an installed package (or a source checkout).
_PACKAGE_DIR = Path(__file__).resolve().parents[2]


def candidate_paths(model_dir: Path, checksum: str, kind: str = "features") -> list[Path]:
    name = f"model-{checksum[:16]}.{kind}.onnx"
    user = user_cache_dir() / name
    if Path(model_dir).resolve().is_relative_to(_PACKAGE_DIR):
        return [user]
    return [model_dir / name, user]


def conversion_lock_path(target: Path) -> Path:
    """The lock file beside ``target`` held while it is converted (never deleted, see ProcessLock)."""
    return target.with_name(f".{target.name}.lock")


def remove_superseded_conversions(target: Path, kind: str) -> None:
    """Remove the conversions of earlier ``model.pt`` files beside ``target``: a model folder holds
    one model, so they are dead weight (about the model's size each) once it was replaced. Never
    in the user cache, which holds the conversions of many models. Their lock files stay (see
    :class:`ProcessLock`)."""
    for old in target.parent.glob(f"model-*.{kind}.onnx"):
        if old == target:
            continue
        try:
            old.unlink()
            logger.info("removed %s, the conversion of an earlier model.pt in that folder", old)
        except OSError as failure:  # e.g. open in another process on Windows: removed next time
            logger.info("cannot remove %s (%s)", old, failure.strerror or failure)


def export_network_onnx(function: LogitsFunction, example: torch.Tensor, target: Path) -> Path:
    """Write the network function as ONNX (batch and all spatial sizes dynamic), atomically."""
    axes = {0: "batch", 2: "x", 3: "y", 4: "z"}

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the stubs name modules only; the TorchScript exporter (dynamo=False) traces a callable too
            torch.onnx.export(function, (example.cpu(),), str(tmp), dynamo=False,  # type: ignore[arg-type]
                              opset_version=ONNX_OPSET, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes})

    return atomic_write(target, write, suffix=".onnx")


def _existing(candidates: list[Path]) -> Optional[Path]:
    return next((path for path in candidates if path.is_file() and path.stat().st_size > 0), None)


def cached_conversion(model_dir: Path, kind: str) -> Optional[Path]:
    """This model's ONNX file of the ``kind`` cut when it was converted before (None: not yet)."""
    return _existing(candidate_paths(model_dir, model_checksum(model_dir), kind))


def cached_network_onnx(model_dir: Path, kind: str, function: LogitsFunction, example: torch.Tensor,
                        refresh: bool = False) -> Path:
    """The cached ONNX file of this model's network (the ``kind`` cut), converting it first if needed.

    ``refresh`` re-converts (after a cached file failed to load or to verify)."""
    candidates = candidate_paths(model_dir, model_checksum(model_dir), kind)
    if not refresh:
        cached = _existing(candidates)
        if cached is not None:
            return cached
    error: Optional[OSError] = None
    for path in candidates:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with ProcessLock(conversion_lock_path(path), what=f"the ONNX conversion {path}"):
                if not refresh and path.is_file() and path.stat().st_size > 0:
                    return path  # another process converted it while this one waited
                # Holding the lock: any partial file of this target is an orphan of a killed conversion.
                remove_stale_parts(path, before=time.time())
                logger.info("converting the network of %s to ONNX: %s", model_dir, path)
                export_network_onnx(function, example, path)
            if path.parent == Path(model_dir):
                remove_superseded_conversions(path, kind)
            return path
        except OSError as failure:  # read-only model folder: try the user cache
            logger.info("cannot write %s (%s)", path, failure.strerror or failure)
            error = failure
    raise OSError(f"no writable folder for the ONNX conversion of {model_dir}: {error}")
