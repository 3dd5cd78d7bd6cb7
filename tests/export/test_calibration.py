"""Calibration ranges: one streaming pass, percentile clipping, min/max."""

from __future__ import annotations

import numpy as np

from mtl_edge.export.calibration import RangeCollector


def test_percentile_ranges_clip_rare_outliers_and_minmax_keeps_them():
    rng = np.random.default_rng(0)
    c = RangeCollector(["x"])
    c.update("x", rng.uniform(0, 1, 200_000).astype(np.float32))
    big = rng.uniform(0, 1, 200_000).astype(np.float32)
    big[7] = 50.0  # one outlier, in a later batch: the histogram widens and keeps earlier counts
    c.update("x", big)
    assert c.hist["x"].sum() == 400_000 // 4
    assert c.ranges(None)["x"] == (0.0, 50.0)
    lo, hi = c.ranges(99.9)["x"]
    assert lo == 0.0 and 0.95 < hi < 1.1
