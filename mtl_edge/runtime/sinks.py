"""Where results go: an annotated video, JSON lines, an image folder, or a window.

Sinks run on the pipeline's render thread. Files are written through temporary
names, so an interrupted run leaves either the finished file or none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mtl_edge.deploy.draw import draw_result
from mtl_edge.deploy.results import FrameResult
from mtl_edge.deploy.video import H264Writer


class Sink(Protocol):
    needs_image: bool  # False: ``write`` gets None for the image, which is then never converted to RGB

    def write(self, image: np.ndarray | None, result: FrameResult, hud: str | None) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class VideoSink:
    """Annotated H.264 mp4."""

    needs_image = True

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        self._writer = H264Writer(path, fps)

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        self._writer.write(draw_result(image, result, hud))

    def close(self, ok: bool = True) -> None:
        self._writer.close(ok)


class JsonlSink:
    """One FrameResult per line; the file is renamed into place when the run ends."""

    needs_image = False

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._file = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115  (closed in close())

    def write(self, image: np.ndarray | None, result: FrameResult, hud: str | None) -> None:
        self._file.write(result.to_json() + "\n")

    def close(self, ok: bool = True) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)  # partial results of an interrupted run are still results


class ImageFolderSink:
    """Annotated frames as numbered JPEGs."""

    needs_image = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        import cv2

        from mtl_edge.fileio import atomic_write_bytes

        ok, data = cv2.imencode(".jpg", cv2.cvtColor(draw_result(image, result, hud), cv2.COLOR_RGB2BGR))
        if ok:
            atomic_write_bytes(self.folder / f"{result.index:06d}.jpg", data.tobytes(), durable=False)

    def close(self, ok: bool = True) -> None:
        pass


class DisplaySink:
    """An OpenCV window; needs a display (DISPLAY or WAYLAND_DISPLAY)."""

    needs_image = True

    def __init__(self) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ValueError("display://: no display here (DISPLAY is not set); write a video with --sink out.mp4.")

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        import cv2

        cv2.imshow("mtl-edge", cv2.cvtColor(draw_result(image, result, hud), cv2.COLOR_RGB2BGR))
        cv2.waitKey(1)

    def close(self, ok: bool = True) -> None:
        import cv2

        cv2.destroyAllWindows()


def open_sink(uri: str | Path, fps: float = 30.0) -> Any:
    """``out.mp4`` (video), ``out.jsonl`` (JSON lines), ``display://``, or a folder for annotated JPEGs."""
    text = str(uri)
    if text.startswith("display://"):
        return DisplaySink()
    path = Path(text)
    if path.suffix.lower() in (".mp4", ".mkv", ".mov"):
        return VideoSink(path, fps)
    if path.suffix.lower() in (".jsonl", ".json"):
        return JsonlSink(path)
    if path.suffix:
        raise ValueError(f"--sink {text}: unknown kind; use out.mp4, out.jsonl, a folder name, or display://")
    return ImageFolderSink(path)
