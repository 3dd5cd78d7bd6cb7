"""Scene-generator throughput, against the 5-minute budget for 2,000 1280x720 scenes.

Prints a table. The baseline, measured in the same run, is the cost of only encoding
and writing the files of an already-rendered scene (JPEG + PNG mask + label JSON), so
``render share`` shows how much of the time is the renderer itself.

    python benchmarks/bench_synth.py --n 200 --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from mtl_edge.data.formats import write_drivable_mask, write_frame
from mtl_edge.data.synth.render import render
from mtl_edge.data.synth.scene import sample_scene
from mtl_edge.data.synth.writer import SynthOptions, _encode_jpeg, generate
from mtl_edge.fileio import atomic_write_bytes

BUDGET_S, BUDGET_N = 300.0, 2000


def io_floor(out: Path, n: int, width: int, height: int) -> float:
    """Seconds per scene to encode and write one pre-rendered scene's files, one process."""
    r = render(sample_scene(0, width, height))
    start = time.perf_counter()
    for i in range(n):
        atomic_write_bytes(out / f"{i}.jpg", _encode_jpeg(r.image))
        write_drivable_mask(r.drivable, out / f"{i}.png")
        write_frame(r.frame, out / f"{i}.json")
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="scenes to generate")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="processes")
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        floor = io_floor(Path(tmp) / "floor", max(10, args.n // 10), width, height)
        start = time.perf_counter()
        generate(
            Path(tmp) / "ds",
            args.n,
            SynthOptions(seed=123, width=width, height=height),
            workers=args.workers,
            progress=False,
        )
        elapsed = time.perf_counter() - start
    per_scene_wall = elapsed / args.n
    projected = per_scene_wall * BUDGET_N
    rows = [
        ("scenes", f"{args.n}"),
        ("workers", f"{args.workers}"),
        ("scenes/s (wall)", f"{1 / per_scene_wall:.1f}"),
        (f"projected time for {BUDGET_N}", f"{projected:.0f} s"),
        (f"ratio to budget ({BUDGET_S:.0f} s)", f"{projected / BUDGET_S:.2f}  (<= 1.00 passes)"),
        ("baseline: write-only s/scene (1 proc)", f"{floor * 1000:.1f} ms"),
        ("full s/scene per process / baseline", f"{per_scene_wall * args.workers / floor:.1f}x"),
    ]
    width_col = max(len(k) for k, _ in rows)
    print(f"Synthetic scene generation at {width}x{height}")
    for key, value in rows:
        print(f"  {key:<{width_col}}  {value}")


if __name__ == "__main__":
    main()
