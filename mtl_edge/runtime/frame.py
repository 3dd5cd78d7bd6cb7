"""What every source yields, and the error a source that cannot be opened raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SourceError(ValueError):
    """A source that cannot be opened, with how to fix it."""


@dataclass
class Frame:
    index: int  # position in the source (files) or arrival order (live)
    timestamp: float  # seconds: presentation time for files, arrival time for live sources
    image: np.ndarray  # RGB uint8 [H, W, 3]
