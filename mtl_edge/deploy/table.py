"""Aligned plain-text tables for the command line and the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "-" if math.isnan(value) else format(float(value), floatfmt)
    return "" if value is None else str(value)


def format_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    floatfmt: str = ".3f",
) -> str:
    """Aligned plain-text table: one row per dict, ``columns`` (default: keys in first-seen order).

    Numbers are right-aligned, text left-aligned, NaN and missing cells print as "-".
    """
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    cols = list(columns)
    cells = [[_cell(row.get(c, math.nan), floatfmt) for c in cols] for row in rows]
    numeric = [
        all(isinstance(row.get(c), (int, float, np.integer, np.floating)) or row.get(c) is None for row in rows)
        for c in cols
    ]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(cols), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)
