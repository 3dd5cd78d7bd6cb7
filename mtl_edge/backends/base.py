"""The base every backend runs on: load a model file, ``infer`` batches of frames, ``close``, ``profile``.

A backend takes letterboxed ``uint8 [B, H, W, 3]`` RGB frames and returns every head's
final outputs, ``{"<head>.<field>": array}``, in one call. ``metadata`` is the model's
metadata contract (:mod:`mtl_edge.deploy.metadata`); ``heads`` and ``input_hw`` come from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # importing the backends table stays cheap (the CLI reads its names)
    import numpy as np

    from mtl_edge.backends.profiling import Profile


class ModelFileError(ValueError):
    """A model file that cannot be loaded, with how to fix it."""


class Backend:
    """One loaded model. Subclasses set their options, then call :meth:`load` from ``__init__``.

    Usable as a context manager: leaving the ``with`` block closes it.
    """

    name: ClassVar[str] = "base"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.metadata: dict[str, Any] = {}
        self.input_hw: tuple[int, int] = (0, 0)

    @property
    def heads(self) -> dict[str, Any]:
        """The metadata's ``heads`` section: each head's classes and output names."""
        return self.metadata["heads"]

    def load(self) -> None:
        """Open ``self.path`` and set ``metadata`` and ``input_hw``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement load()")

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """One call on a batch of letterboxed uint8 frames; ``{"<head>.<field>": array}``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement infer()")

    def close(self) -> None:
        """Release the model; the backend cannot infer afterwards."""

    def profile(self, image: np.ndarray, frames: int = 50, warmup: int = 5) -> Profile:
        """Mean milliseconds per part (trunk, each head) over ``frames`` calls on ``image`` (an RGB source frame)."""
        raise NotImplementedError(
            f"the {self.name} backend has no per-head profiler; profile the model on ort, trt or torch instead"
        )

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
