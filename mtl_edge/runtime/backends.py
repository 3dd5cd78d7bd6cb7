"""Backends behind one protocol: ``infer(uint8 [B,H,W,3]) -> {"<head>.<field>": array}``.

- ``ort``: an exported .onnx file on ONNX Runtime (see :mod:`mtl_edge.runtime.ort_backend`);
- ``torch``: a checkpoint run directly (CUDA when available);
- ``trt``: a TensorRT engine (:mod:`mtl_edge.runtime.trt_backend`, needs TensorRT + cuda-python).

``auto`` picks TensorRT for an engine, ONNX Runtime for an ONNX file, torch for a checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mtl_edge.runtime.ort_backend import ModelFileError, OrtBackend


class Backend(Protocol):
    name: str
    input_hw: tuple[int, int]
    heads: dict[str, Any]

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class TorchBackend:
    """A checkpoint in eager PyTorch (deploy form), on CUDA when there is one."""

    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str | None = None, imgsz: tuple[int, int] | None = None) -> None:
        import torch

        from mtl_edge.config import recipe_from_dict
        from mtl_edge.models.blocks import reparameterize_model
        from mtl_edge.models.network import DeployModel, head_metadata
        from mtl_edge.models.loading import load_model

        net, ckpt = load_model(checkpoint)
        recipe = recipe_from_dict(ckpt["recipe"], where=f"{checkpoint} (recipe)")
        self.input_hw = tuple(imgsz or recipe.data.imgsz)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.heads = head_metadata(net, self.input_hw)
        self.model = DeployModel(reparameterize_model(copy.deepcopy(net).eval())).eval().to(self.device)
        self._torch = torch

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        with self._torch.inference_mode():
            out = self.model.as_dict(self.model(self._torch.from_numpy(images).to(self.device)))
        return {k: v.cpu().numpy() for k, v in out.items()}

    def close(self) -> None:
        pass

    def __enter__(self) -> TorchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_backend(model: str | Path, backend: str = "auto", threads: int | None = None) -> Any:
    """Open ``model`` (.onnx, .engine or checkpoint .pt) on the named backend."""
    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file. Give a .onnx, .engine or checkpoint .pt file.")
    kind = {".onnx": "ort", ".engine": "trt", ".plan": "trt", ".pt": "torch", ".pth": "torch"}.get(path.suffix.lower())
    if backend == "auto":
        if kind is None:
            raise ModelFileError(f"{path}: unknown model type; use a .onnx, .engine or .pt file, or name --backend.")
        backend = kind
    if backend == "ort":
        import onnxruntime as ort

        gpu = "CUDAExecutionProvider" in ort.get_available_providers()
        return OrtBackend(path, threads=threads, providers="auto" if gpu else "cpu")
    if backend == "torch":
        return TorchBackend(path)
    if backend == "trt":
        from mtl_edge.runtime.trt_backend import TrtBackend

        return TrtBackend(path)
    raise ValueError(f"--backend {backend!r}: choose auto, ort, trt or torch")
