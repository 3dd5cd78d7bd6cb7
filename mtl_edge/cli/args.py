"""Argument types of the command line and the subcommand factory (the names show in argparse's errors).

Every type checks its value when the command line is parsed, before any work starts: a bad value
ends in argparse's usage error (exit 2) with a message that says what is allowed, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

#: Largest side of a generated frame: one 8192x8192 frame and its masks take about 1 GB per worker.
MAX_FRAME_SIDE = 8192
#: Largest network input side (a multiple of 32).
MAX_INPUT_SIDE = 4096
#: Largest graph batch (the exporter's range).
MAX_BATCH = 64

_Error = argparse.ArgumentTypeError


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Error(f"expected {what}, got {text!r}") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Error(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise _Error(f"expected {what}, got {text!r}")
    return value


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high] (no upper bound when ``high`` is None)."""
    what = f"a whole number from {low} to {high}" if high is not None else f"a whole number of at least {low}"

    def parse(text: str) -> int:
        value = _int(text, what)
        if value < low or (high is not None and value > high):
            raise _Error(f"expected {what}, got {text}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_range(low: float, high: float | None = None, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (``(low, high]`` when ``low_open``); nan and inf are refused."""
    start = f"above {low:g}" if low_open else f"of at least {low:g}"
    what = f"a number {start}" + (f" and at most {high:g}" if high is not None else "")

    def parse(text: str) -> float:
        value = _float(text, what)
        if value < low or (low_open and value == low) or (high is not None and value > high):
            raise _Error(f"expected {what}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0.0, low_open=True)


def unit_float(text: str) -> float:
    """A threshold in [0, 1]; nan is refused."""
    return float_range(0.0, 1.0)(text)


def _two_ints(text: str, example: str, names: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise _Error(f"expected {names} such as {example}, got {text!r}") from None
    return a, b


def wh_size(text: str, limit: int = MAX_FRAME_SIDE) -> tuple[int, int]:
    """WxH (e.g. 1280x720) -> (width, height): even, at least 64 and at most ``limit`` per side."""
    w, h = _two_ints(text, "1280x720", "WIDTHxHEIGHT")
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise _Error(f"size {text} must be even and at least 64x64 (H.264 needs even sizes)")
    if w > limit or h > limit:
        raise _Error(
            f"size {text} is too large for memory: each side may be at most {limit} "
            f"(a {limit}x{limit} frame and its masks take about 1 GB per worker)"
        )
    return w, h


def hw_size(text: str, limit: int = MAX_INPUT_SIDE) -> tuple[int, int]:
    """HxW (e.g. 384x640) -> (height, width): multiples of 32 from 32 to ``limit``."""
    h, w = _two_ints(text, "384x640", "HEIGHTxWIDTH")
    if h < 32 or w < 32 or h % 32 or w % 32:
        near = f"{max(32, round(h / 32) * 32)}x{max(32, round(w / 32) * 32)}"
        raise _Error(
            f"size {text}: height and width must be multiples of 32 (the network's largest stride); try {near}"
        )
    if h > limit or w > limit:
        raise _Error(f"size {text} is too large: each side may be at most {limit}")
    return h, w


def batch_size(text: str) -> int | str:
    """A graph batch: 1 to 64, or 'dynamic'."""
    if text.strip().lower() == "dynamic":
        return "dynamic"
    value = _int(text, f"a batch from 1 to {MAX_BATCH} or 'dynamic'")
    if not 1 <= value <= MAX_BATCH:
        raise _Error(f"expected a batch from 1 to {MAX_BATCH} or 'dynamic', got {text}")
    return value


def _writable_ancestor(path: Path) -> None:
    """The nearest existing folder above ``path`` must be a folder we may write in (missing ones get made)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise _Error(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _Error(f"{path}: folder {parent} is not writable; choose another path")


def output_file(text: str) -> Path:
    """A file to write: not a folder, and in a folder that is (or can be made) writable."""
    path = Path(text)
    if not text or path.is_dir():
        raise _Error(f"{text!r} is a folder; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise _Error(f"{path}: file is read-only; choose another path or make it writable")
    _writable_ancestor(path)
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: an existing writable folder, or one that can be made."""
    path = Path(text)
    if not text:
        raise _Error("expected a folder path, got ''")
    if path.exists():
        if not path.is_dir():
            raise _Error(f"{path} is a file; give a folder path")
        if not os.access(path, os.W_OK | os.X_OK):
            raise _Error(f"folder {path} is not writable; choose another path")
        return path
    _writable_ancestor(path)
    return path


def existing_path(text: str) -> Path:
    """A file or folder that exists."""
    path = Path(text)
    if not path.exists():
        raise _Error(f"{path}: no such file or folder")
    return path


def precision_list(text: str) -> list[str]:
    """A comma-separated list of fp32, fp16 and int8."""
    items = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in items if p not in ("fp32", "fp16", "int8")]
    if not items or bad:
        raise _Error(f"expected a comma-separated list of fp32, fp16, int8, got {text!r}")
    return items


# The former names, kept for callers outside this package's owners.
_size = wh_size
_hw = hw_size
_positive = positive_int


def _command(parent: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows defaults."""
    return parent.add_parser(
        name, help=help, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


#: The dataset layouts a folder may be in (checked when it is opened, so a registered one works too).
LAYOUT_NAMES = "generated, bdd100k, bdd100k-2018, tusimple, culane, mtsd or gtsdb"


def add_layout_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--layout`` and ``--split`` for a command that reads a dataset folder; ``what``: what it does to the split."""
    parser.add_argument(
        "--layout", default=None, help=f"the folder's layout: {LAYOUT_NAMES}; None: detected from its files"
    )
    parser.add_argument("--split", default="val", help=f"which split of the folder's layout to {what}")
