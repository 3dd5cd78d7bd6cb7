"""A checkpoint run in eager PyTorch (its deploy form), on CUDA when there is one.

The only backend that needs torch and the training side (models, checkpoint loading);
both are imported when a backend is made, so importing this module costs nothing.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.backends.base import Backend
from mtl_edge.backends.profiling import Profile, host_times, timed_calls
from mtl_edge.deploy.letterbox import letterbox_image


class TorchBackend(Backend):
    """A checkpoint in eager PyTorch (deploy form), on ``device`` (default: CUDA when available)."""

    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str | None = None, imgsz: tuple[int, int] | None = None) -> None:
        super().__init__(checkpoint)
        self._device_name, self._imgsz = device, imgsz
        self.load()

    def load(self) -> None:
        import torch

        from mtl_edge.config import recipe_from_dict
        from mtl_edge.models.blocks import reparameterize_model
        from mtl_edge.models.loading import load_model
        from mtl_edge.models.network import DeployModel, head_metadata

        net, ckpt = load_model(self.path)
        recipe = recipe_from_dict(ckpt["recipe"], where=f"{self.path} (recipe)")
        self.input_hw = tuple(self._imgsz or recipe.data.imgsz)
        self.device = torch.device(self._device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.metadata = {"heads": head_metadata(net, self.input_hw)}
        self.model = DeployModel(reparameterize_model(copy.deepcopy(net).eval())).eval().to(self.device)
        self._torch = torch

    @classmethod
    def from_net(cls, net: Any, input_hw: tuple[int, int]) -> TorchBackend:
        """A network in memory (training's evaluation), run as it is (not reparameterised) on its own device."""
        import torch

        from mtl_edge.models.network import DeployModel, head_metadata

        backend = cls.__new__(cls)
        Backend.__init__(backend, "<network in memory>")
        backend.input_hw = (int(input_hw[0]), int(input_hw[1]))
        backend.device = next(net.parameters()).device
        backend.metadata = {"heads": head_metadata(net, backend.input_hw)}
        backend.model = DeployModel(copy.deepcopy(net)).eval()
        backend._torch = torch
        return backend

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        with self._torch.inference_mode():
            out = self.model.as_dict(self.model(self._torch.from_numpy(images).to(self.device)))
        return {k: v.cpu().numpy() for k, v in out.items()}

    def profile(self, image: np.ndarray, frames: int = 50, warmup: int = 5) -> Profile:
        """Trunk and per-head times from forward hooks on the deploy model (synchronised on CUDA)."""
        batch = letterbox_image(image, self.input_hw)[0][None]
        host = host_times(self, image, min(frames, 20))
        cuda = self.device.type == "cuda"
        sync: Callable[[], None] = self._torch.cuda.synchronize if cuda else (lambda: None)
        net = self.model
        modules = {"preprocess": net.preprocess, "trunk/backbone": net.backbone, "trunk/neck": net.neck}
        modules |= {name: head for name, head in net.heads.items()}
        spent: dict[str, float] = defaultdict(float)
        starts: dict[str, float] = {}

        def timer(name: str) -> tuple[Callable[..., None], Callable[..., None]]:
            def before(*_: Any) -> None:  # hooks must return None, or they replace inputs/outputs
                sync()
                starts[name] = time.perf_counter()

            def after(*_: Any) -> None:
                sync()
                spent[name] += time.perf_counter() - starts[name]

            return before, after

        handles = []
        for name, module in modules.items():
            before, after = timer(name)
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
        try:
            for _ in range(warmup):
                self.infer(batch)
            spent.clear()
            calls = timed_calls(self, batch, frames)
        finally:
            for handle in handles:
                handle.remove()
        parts: dict[str, float] = defaultdict(float)
        for name, s in spent.items():
            parts[name.split("/")[0]] += 1e3 * s / frames
        parts["unattributed"] = max(float(np.mean(calls)) - sum(parts.values()), 0.0)
        return Profile(str(self.path), "torch", frames, dict(parts), host, calls)
