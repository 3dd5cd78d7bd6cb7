"""Checkpoints: plain tensors and data only, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds the recipe it was trained from, the (EMA) weights, each head's class
names, the metrics, the package version and, for ``--resume``, the training state.
``strip`` drops the training state for shipping.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import torch

from mtl_edge.fileio import atomic_write_bytes
from mtl_edge.version import __version__

FORMAT = "mtl-edge-checkpoint"
#: Bumped when a checkpoint of the previous layout can no longer be read.
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable mtl-edge checkpoint of this version."""


def _write(payload: dict[str, Any], path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_checkpoint(
    path: str | Path,
    *,
    recipe: dict[str, Any],
    model: dict[str, torch.Tensor],
    metrics: dict[str, Any] | None = None,
    epoch: int = 0,
    train_state: dict[str, Any] | None = None,
    classes: dict[str, list[str]] | None = None,
    val_datasets: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (a crash never leaves a truncated file under ``path``).

    ``val_datasets``: each validation dataset's scores of the heads it labels (a mixed recipe).
    """
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "recipe": recipe,
        "model": {k: v.detach().cpu().contiguous() for k, v in model.items()},  # training may run channels-last
        "classes": classes or {},
        "metrics": metrics or {},
        "epoch": int(epoch),
    }
    if val_datasets:
        payload["val_datasets"] = val_datasets
    if train_state is not None:
        payload["train_state"] = train_state
    _write(payload, path)


def _reason(error: Exception) -> str:
    """Torch's load error without its advice to load with ``weights_only=False`` (arbitrary code execution)."""
    text = str(error)
    if "weights_only" in text or "Weights only load failed" in text:
        found = re.search(r"WeightsUnpickler error: (.*?)(?: Please use|\n|$)", text)
        detail = found.group(1).strip() if found else "it holds objects other than tensors and plain data"
        return f"refused to unpickle it safely: {detail}"
    return text[:200]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint; errors say what is wrong and how to fix it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: checkpoint not found. Check the path, or train one with "
            "`mtl-edge train RECIPE --out DIR` (it writes DIR/best.pt and DIR/last.pt)."
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, a pickle with arbitrary objects, not a torch file at all
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {_reason(e)}). The file may be "
            "truncated or not an mtl-edge checkpoint; re-copy it or retrain."
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not an mtl-edge checkpoint (no '{FORMAT}' marker). Pass a file written by `mtl-edge train`."
        )
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} (written by mtl-edge {data.get('package_version')}) "
            f"but this mtl-edge {__version__} reads format {FORMAT_VERSION}. Install the mtl-edge "
            "version that wrote it, or retrain with this one."
        )
    for key in ("recipe", "model"):
        if not isinstance(data.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint has no '{key}' section; it is damaged. Retrain or re-copy it.")
    return data


def strip(src: str | Path, dst: str | Path) -> None:
    """Copy a checkpoint without its training state (optimizer, raw weights): the shippable form."""
    data = load_checkpoint(src)
    data.pop("train_state", None)
    _write(data, dst)
