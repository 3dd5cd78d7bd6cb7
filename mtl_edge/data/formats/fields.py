"""Validated reading of single JSON fields: numbers, flags, choices and poly2d vertex lists."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_edge.data.formats.errors import MISSING, Where, one_of, show


def number(value: Any, w: Where, field: str) -> float:
    """A finite JSON number (not a boolean) as float."""
    out = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):
            out = float(value)
    if not math.isfinite(out):
        raise w.error(field, f"expected a number, got {show(value)}", "Fix the value or remove the label.")
    return out


def flag(attrs: dict[str, Any], key: str, w: Where, field: str) -> bool:
    """The boolean attribute ``key`` (false when absent)."""
    value = attrs.get(key, False)
    if not isinstance(value, bool):
        raise w.error(f"{field}.attributes.{key}", f"expected true or false, got {show(value)}", "Use a JSON boolean.")
    return value


def choice(value: Any, choices: Sequence[str], w: Where, field: str, what: str) -> str:
    """``value``, which must be one of ``choices`` (``what`` names it in the error)."""
    if value not in choices:
        raise w.error(field, f"unknown {what} {show(value)}", f"Use one of {one_of(choices)}.")
    return value


def vertices(value: Any, w: Where, field: str, min_count: int) -> np.ndarray:
    """Validate ``[[x, y], ...]`` and return it as float32 [N, 2]."""
    fix = f"Give at least {min_count} vertices as [[x, y], ...] pixel coordinates, or remove the label."
    if not isinstance(value, list):
        raise w.error(field, f"expected a list of [x, y] pairs, got {show(value)}", fix)
    for j, vertex in enumerate(value):
        if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
            raise w.error(f"{field}[{j}]", f"expected an [x, y] pair, got {show(vertex)}", fix)
        for k in (0, 1):
            number(vertex[k], w, f"{field}[{j}][{k}]")
    if len(value) < min_count:
        raise w.error(
            field, f"only {len(value)} {'vertex' if len(value) == 1 else 'vertices'}, need at least {min_count}", fix
        )
    return np.asarray(value, dtype=np.float32).reshape(-1, 2)


def polylines(raw: dict[str, Any], w: Where, field: str, min_count: int) -> list[np.ndarray]:
    """Every polyline of the label's ``poly2d`` list, each as float32 [N, 2] vertices."""
    polys = raw.get("poly2d", MISSING)
    if not isinstance(polys, list) or not polys:
        raise w.error(
            f"{field}.poly2d",
            f'expected a non-empty list of {{"vertices": ...}} objects, got {show(polys)}',
            "Add the polyline vertices or remove the label.",
        )
    out = []
    for k, poly in enumerate(polys):
        if not isinstance(poly, dict):
            raise w.error(
                f"{field}.poly2d[{k}]", f"expected an object, got {show(poly)}", 'Use {"vertices": [[x, y], ...]}.'
            )
        out.append(vertices(poly.get("vertices", MISSING), w, f"{field}.poly2d[{k}].vertices", min_count))
    return out


def optional(d: dict[str, Any], key: str, kind: type, w: Where, fix: str) -> Any:
    """``d[key]`` if it is a ``kind`` (booleans are not ints), None when absent or null."""
    value = d.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise w.error(key, f"expected {kind.__name__}, got {show(value)}", fix)
    return value
