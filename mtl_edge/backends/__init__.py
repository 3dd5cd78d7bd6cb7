"""Backends: one class per inference engine, on :class:`~mtl_edge.backends.base.Backend`.

- ``ort``: an exported .onnx file on ONNX Runtime (:mod:`mtl_edge.backends.ort`);
- ``trt``: a TensorRT engine (:mod:`mtl_edge.backends.trt`, needs TensorRT + cuda-python);
- ``torch``: a checkpoint run directly (:mod:`mtl_edge.backends.torch`, needs the [train] extra).

:data:`BACKENDS` is the one table of backends and the model files each opens; ``auto``
picks by file suffix. Backend modules are imported only when one is opened, so the
deploy path never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl_edge.backends.base import Backend, ModelFileError


@dataclass(frozen=True)
class BackendEntry:
    """A backend's name (``--backend``), where its class lives, and the model file suffixes it opens."""

    name: str
    module: str
    cls: str
    suffixes: tuple[str, ...]


BACKENDS: tuple[BackendEntry, ...] = (
    BackendEntry("ort", "mtl_edge.backends.ort", "OrtBackend", (".onnx",)),
    BackendEntry("trt", "mtl_edge.backends.trt.runner", "TrtBackend", (".engine", ".plan")),
    BackendEntry("torch", "mtl_edge.backends.torch", "TorchBackend", (".pt", ".pth")),
)


def backend_choices(auto: bool = True) -> list[str]:
    """The ``--backend`` choices: ``auto`` (when asked for) and every backend's name."""
    return (["auto"] if auto else []) + [b.name for b in BACKENDS]


def _entry(name: str) -> BackendEntry:
    for entry in BACKENDS:
        if entry.name == name:
            return entry
    raise ValueError(f"--backend {name!r}: choose {', '.join(backend_choices())}")


def backend_class(name: str) -> type[Backend]:
    """The class of the backend called ``name`` (its module is imported now)."""
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.cls)


def backend_for(model: str | Path) -> str:
    """The backend that opens ``model``, by its file suffix."""
    suffix = Path(model).suffix.lower()
    for entry in BACKENDS:
        if suffix in entry.suffixes:
            return entry.name
    known = ", ".join(s for b in BACKENDS for s in b.suffixes)
    raise ModelFileError(f"{model}: unknown model type; use a {known} file, or name --backend.")


def open_backend(model: str | Path, backend: str = "auto", threads: int | None = None, **options: Any) -> Backend:
    """Open ``model`` (.onnx, .engine or checkpoint .pt) on the named backend (``auto``: by file suffix).

    ``threads`` sets ONNX Runtime's intra-op threads; ``options`` go to the backend's constructor.
    """
    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file. Give a .onnx, .engine or checkpoint .pt file.")
    name = backend_for(path) if backend == "auto" else backend
    cls = backend_class(name)
    if name == "ort":
        import onnxruntime as ort

        gpu = "CUDAExecutionProvider" in ort.get_available_providers()
        options = {"threads": threads, "providers": "auto" if gpu else "cpu", **options}
    return cls(path, **options)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "ModelFileError",
    "backend_choices",
    "backend_class",
    "backend_for",
    "open_backend",
]
