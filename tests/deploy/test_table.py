"""Plain-text tables: aligned columns, numbers right-aligned, NaN as "-"."""

from __future__ import annotations

import math

from mtl_edge.deploy.table import format_table


def test_format_table() -> None:
    rows = [
        {"class": "car", "AP50": 0.91234, "num_gt": 120},
        {"class": "motorcycle", "AP50": math.nan, "num_gt": 0},
    ]
    text = format_table(rows, ["class", "AP50", "num_gt"])
    lines = text.splitlines()
    assert lines[0].split() == ["class", "AP50", "num_gt"]
    assert lines[2].split() == ["car", "0.912", "120"]
    assert lines[3].split() == ["motorcycle", "-", "0"]
    assert len({len(line) for line in lines[1:]}) == 1  # aligned columns
    assert lines[2].index("0.912") + 5 == lines[3].index("-") + 1  # numbers right-aligned
    assert format_table(rows).splitlines()[0].split() == ["class", "AP50", "num_gt"]
