"""Convert TuSimple lane labels (JSON lines) into one BDD100K-style lane JSON list.

Each TuSimple line is ``{"lanes": [[x, ...], ...], "h_samples": [y, ...], "raw_file":
"clips/.../20.jpg"}``; lane k has one x per row in ``h_samples`` and a negative x
(TuSimple writes -2) where the lane is absent. Each lane becomes one 2020-style lane
label with its points ordered near to far (bottom of the image first). TuSimple has no
marking types, so every lane is written as type "single other", style "solid",
direction "parallel". Lanes with fewer than 2 points are dropped. The frame name is
``raw_file``, so the output sits beside the TuSimple image folder.

Run from a checkout with the package installed (``pip install -e .``)::

    python tools/tusimple_to_bdd.py label_data_0313.json label_data_0531.json --out lanes.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.data.formats import LabelFormatError, write_frames
from mtl_edge.data.labels import FrameLabels, LaneLabel

#: What a TuSimple lane is written as (TuSimple labels carry no marking type).
LANE_TYPE, LANE_STYLE, LANE_DIRECTION = "single other", "solid", "parallel"


def _fail(where: str, problem: str) -> LabelFormatError:
    return LabelFormatError(
        f"{where}: {problem}. Each line must be one JSON object with "
        '"raw_file" (image path), "h_samples" (row y values) and "lanes" (one x list per lane, -2 where absent).'
    )


def _numbers(value: Any, where: str, field: str) -> list[float]:
    ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok:
        raise _fail(where, f"{field}: expected a list of numbers, got {json.dumps(value)[:60]}")
    return [float(v) for v in value]


def convert_record(record: Any, where: str) -> FrameLabels:
    """One TuSimple record as a FrameLabels; ``where`` ("file:line") prefixes errors."""
    if not isinstance(record, dict):
        raise _fail(where, f"expected a JSON object, got {type(record).__name__}")
    name = record.get("raw_file")
    if not isinstance(name, str) or not name:
        raise _fail(where, f"raw_file: expected the image path, got {json.dumps(name)}")
    ys = _numbers(record.get("h_samples"), where, "h_samples")
    lanes_raw = record.get("lanes")
    if not isinstance(lanes_raw, list):
        raise _fail(where, f"lanes: expected a list of lanes, got {json.dumps(lanes_raw)[:60]}")
    lanes = []
    for k, lane in enumerate(lanes_raw):
        xs = _numbers(lane, where, f"lanes[{k}]")
        if len(xs) != len(ys):
            raise _fail(where, f"lanes[{k}]: {len(xs)} x values for {len(ys)} h_samples; they must pair up one to one")
        # Keep the rows where the lane exists, ordered near (large y) to far.
        points = sorted(((x, y) for x, y in zip(xs, ys, strict=True) if x >= 0), key=lambda p: -p[1])
        if len(points) >= 2:
            lanes.append(LaneLabel(np.asarray(points, np.float32), LANE_TYPE, LANE_STYLE, LANE_DIRECTION, id=str(k)))
    return FrameLabels(name=name, lanes=lanes)


def read_tusimple(path: Path) -> list[FrameLabels]:
    """All records of one TuSimple JSON-lines file (blank lines are skipped)."""
    frames = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise _fail(where, f"invalid JSON at column {e.colno}: {e.msg}") from None
            frames.append(convert_record(record, where))
    return frames


def convert(inputs: Sequence[Path], out: Path) -> tuple[int, int]:
    """Convert ``inputs`` into ``out``; returns (frames, lanes) written."""
    frames: list[FrameLabels] = []
    seen: dict[str, Path] = {}
    for path in inputs:
        for frame in read_tusimple(path):
            if frame.name in seen:
                raise LabelFormatError(
                    f"{path}: raw_file {frame.name!r} is also in {seen[frame.name]}. "
                    "Pass each TuSimple label file once, or remove the duplicate line."
                )
            seen[frame.name] = path
            frames.append(frame)
    write_frames(frames, out)
    return len(frames), sum(len(f.lanes) for f in frames)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tusimple_to_bdd.py",
        description=(
            "Convert TuSimple lane labels (JSON lines: lanes, h_samples, raw_file) into one BDD100K-style "
            "lane JSON list that mtl_edge.data.formats.read_frames loads. Lanes become 2020-style lane labels "
            f'of type "{LANE_TYPE}", style "{LANE_STYLE}" (TuSimple has no types), points near to far; '
            "x = -2 entries are skipped and lanes with fewer than 2 points dropped. Frame names are raw_file."
        ),
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT.json", help="TuSimple label files (JSON lines)")
    parser.add_argument("--out", required=True, type=Path, help="output BDD100K-style JSON file (written atomically)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        n_frames, n_lanes = convert(args.inputs, args.out)
    except (LabelFormatError, OSError) as e:
        print(f"tusimple_to_bdd: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {n_frames} frames with {n_lanes} lanes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
