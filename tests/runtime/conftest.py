"""Runtime fixtures: a real encoded clip and frames that carry their index (the model: ``tiny_onnx``)."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.deploy.video import write_h264

HW = (128, 224)


def numbered_frames(n: int, hw: tuple[int, int] = (180, 320)) -> list[np.ndarray]:
    """Frames whose index is readable back from their pixels (a bright bar at x = 8 * index)."""
    frames = []
    for i in range(n):
        img = np.full((*hw, 3), 40, np.uint8)
        img[:, 8 * i : 8 * i + 8] = 230
        frames.append(img)
    return frames


def index_of(image: np.ndarray) -> int:
    return int(np.argmax(image[:, :, 0].mean(0)) // 8)


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """A real H.264 mp4 of 24 numbered frames."""
    path = tmp_path_factory.mktemp("rt-clip") / "clip.mp4"
    write_h264(path, numbered_frames(24), fps=24.0)
    return path
