"""Helpers shared by the metrics."""

from __future__ import annotations

import math


def ratio(num: float, den: float) -> float:
    """``num / den`` as a float, NaN when ``den`` is not positive."""
    return float(num) / float(den) if den > 0 else math.nan
