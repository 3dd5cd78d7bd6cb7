"""What every source yields, and the error a source that cannot be opened raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_edge.deploy.letterbox import LetterboxParams, letterbox_image, letterbox_video_frame


class SourceError(ValueError):
    """A source that cannot be opened, with how to fix it."""


class Frame:
    """One source frame: its position, its time and its pixels.

    The pixels are an RGB uint8 array [H, W, 3], or a decoder's frame (a PyAV
    ``VideoFrame``) that becomes one only when :attr:`image` is read. :meth:`letterboxed`
    scales a decoder's YUV planes to the network size before converting them to RGB, so a
    loop that draws nothing never makes full-resolution RGB (see
    :func:`~mtl_edge.deploy.letterbox.letterbox_video_frame`).
    """

    __slots__ = ("index", "timestamp", "_pixels")

    def __init__(self, index: int, timestamp: float, image: np.ndarray | Any) -> None:
        self.index = index  # position in the source (files) or arrival order (live)
        self.timestamp = timestamp  # seconds: presentation time for files, arrival time for live sources
        self._pixels = image  # an RGB array or a decoder's frame

    @property
    def image(self) -> np.ndarray:
        """RGB uint8 [H, W, 3] (converted from the decoder's frame on first use)."""
        if not isinstance(self._pixels, np.ndarray):
            self._pixels = self._pixels.to_ndarray(format="rgb24")
        return self._pixels

    @property
    def hw(self) -> tuple[int, int]:
        """Height and width in pixels, without converting anything."""
        pixels = self._pixels
        if isinstance(pixels, np.ndarray):
            return int(pixels.shape[0]), int(pixels.shape[1])
        return int(pixels.height), int(pixels.width)

    def letterboxed(self, dst_hw: Sequence[int]) -> tuple[np.ndarray, LetterboxParams]:
        """The frame letterboxed to ``dst_hw`` (RGB uint8) and the mapping's parameters."""
        pixels = self._pixels
        if isinstance(pixels, np.ndarray):
            return letterbox_image(pixels, dst_hw)
        return letterbox_video_frame(pixels, dst_hw)

    def renumbered(self, index: int, timestamp: float) -> Frame:
        """The same pixels at another position and time (a looped file)."""
        return Frame(index, timestamp, self._pixels)
