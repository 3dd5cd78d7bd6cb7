"""Full-loop throughput against network-only time, measured in the same run.

The loop is what `mtl-edge run` does without rendering: decode a 1280x720 H.264 file
(capture thread), letterbox, one ONNX Runtime call, results in source pixels. The
baseline is the same graph called back to back on one pre-letterboxed frame, with the
same number of ONNX Runtime threads. Prints FPS for both and the pipeline's overhead
over the network-only time (target: <= 15%), plus the loop's FPS against the 25 FPS
target, for each thread count asked for (default 1 and 2). A third row gives the time of
the backend calls inside the loop: the loop runs its stages side by side, so its time
per frame is close to that, and the rest of the gap to network-only is the video
decoder competing with inference for the machine's cores.

    python benchmarks/bench_runtime.py --model runs/bench-precision/int8-cpu.onnx
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.deploy.table import format_table


def clip_path(frames: int) -> Path:
    """A generated 1280x720 H.264 clip (rendered once, then reused)."""
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = Path("runs/bench-runtime") / f"clip-{frames}f"
    generate(root, 1, SynthOptions(seed=5, clip_frames=frames), progress=True)
    return root / "videos" / "clip_0000.mp4"


def network_only(backend, frames: int) -> float:
    """Seconds per call, the graph alone on one letterboxed frame."""
    from mtl_edge.deploy.letterbox import letterbox_image
    from mtl_edge.runtime.sources import open_source

    src = open_source(clip_path(frames))
    image = next(iter(src.frames())).image
    src.close()
    batch = letterbox_image(image, backend.input_hw)[0][None]
    for _ in range(5):
        backend.infer(batch)
    start = time.perf_counter()
    for _ in range(frames):
        backend.infer(batch)
    return (time.perf_counter() - start) / frames


def measure(model: Path, clip: Path, frames: int, threads: int, rounds: int) -> tuple[list[dict[str, Any]], Any]:
    """Network-only and full-loop rows for one thread count (medians over alternating rounds,
    so that drift in the machine's speed hits both alike), and the last loop's statistics."""
    from mtl_edge.backends import open_backend
    from mtl_edge.runtime.pipeline import Pipeline
    from mtl_edge.runtime.sources import open_source

    net, loop, inside = [], [], []
    with open_backend(model, "ort", threads=threads) as backend:
        for _ in range(rounds):
            net.append(network_only(backend, frames))
            stats = Pipeline(backend, open_source(clip)).run()
            loop.append(stats.wall_s / stats.frames)
            inside.append(stats.network_s / stats.frames)
    net_s, loop_s, inside_s = float(np.median(net)), float(np.median(loop)), float(np.median(inside))
    rows = [
        {"threads": threads, "what": "network only", "FPS": 1 / net_s, "ms/frame": 1e3 * net_s, "x network": 1.0},
        {
            "threads": threads,
            "what": "its calls inside the loop (decoder beside it)",
            "FPS": 1 / inside_s,
            "ms/frame": 1e3 * inside_s,
            "x network": inside_s / net_s,
        },
        {
            "threads": threads,
            "what": "full loop: decode+letterbox+infer+results",
            "FPS": 1 / loop_s,
            "ms/frame": 1e3 * loop_s,
            "x network": loop_s / net_s,
        },
    ]
    return rows, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("runs/bench-precision/int8-cpu.onnx"), help=".onnx model")
    ap.add_argument("--frames", type=int, default=300, help="clip length")
    ap.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="alternating network-only / loop rounds (medians)")
    args = ap.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: not found; run benchmarks/bench_precision.py first (it writes the graphs)")
    clip = clip_path(args.frames)
    rows, verdicts = [], []
    for threads in (int(t) for t in args.threads.split(",")):
        measured, stats = measure(args.model, clip, args.frames, threads, args.rounds)
        rows += measured
        loop = measured[2]
        verdicts.append(
            f"{threads} thread(s): overhead {100 * (loop['x network'] - 1):+.1f}% (target <= 15%), "
            f"loop {loop['FPS']:.1f} FPS (target >= 25); loop p50 ms per stage: "
            + str({k: round(float(np.median(v)), 2) for k, v in stats.ms.items() if v})
        )
    print(f"\n{args.model}, {args.frames} frames of a 1280x720 H.264 clip, no rendering, {args.rounds} rounds")
    print(format_table(rows, floatfmt=".2f"))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
