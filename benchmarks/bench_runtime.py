"""Full-loop throughput against network-only time, measured in the same run.

The loop is what `mtl-edge run` does without rendering: decode a 1280x720 H.264 file
(capture thread), letterbox, one ONNX Runtime call, results in source pixels. The
baseline is the same graph called back to back on one pre-letterboxed frame. Prints
FPS for both and the pipeline's overhead over the network-only time (target: <= 15%),
plus the loop's FPS against the 25 FPS target.

    python benchmarks/bench_runtime.py --model runs/bench-precision/int8-cpu.onnx
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mtl_edge.metrics import format_table


def clip_path(frames: int) -> Path:
    """A generated 1280x720 H.264 clip (rendered once, then reused)."""
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = Path("runs/bench-runtime") / f"clip-{frames}f"
    generate(root, 1, SynthOptions(seed=5, clip_frames=frames), progress=True)
    return root / "videos" / "clip_0000.mp4"


def network_only(backend, frames: int) -> float:
    """Seconds per call, the graph alone on one letterboxed frame."""
    from mtl_edge.data.transforms import letterbox_image
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("runs/bench-precision/int8-cpu.onnx"), help=".onnx model")
    ap.add_argument("--frames", type=int, default=300, help="clip length")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    args = ap.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: not found; run benchmarks/bench_precision.py first (it writes the graphs)")
    from mtl_edge.runtime.backends import open_backend
    from mtl_edge.runtime.pipeline import Pipeline
    from mtl_edge.runtime.sources import open_source

    backend = open_backend(args.model, "ort", threads=args.threads)
    clip = clip_path(args.frames)
    net_s = network_only(backend, args.frames)
    stats = Pipeline(backend, open_source(clip)).run()
    loop_s = stats.wall_s / stats.frames
    rows = [
        {"what": "network only (same graph, same run)", "FPS": 1 / net_s, "ms/frame": 1e3 * net_s, "x network": 1.0},
        {
            "what": "full loop: decode+letterbox+infer+results",
            "FPS": 1 / loop_s,
            "ms/frame": 1e3 * loop_s,
            "x network": loop_s / net_s,
        },
    ]
    print(f"\n{args.model}, {args.threads} ONNX Runtime threads, {stats.frames} frames of a 1280x720 H.264 clip")
    print(format_table(rows, floatfmt=".2f"))
    print(
        f"pipeline overhead over network-only: {100 * (loop_s / net_s - 1):+.1f}% (target <= 15%); "
        f"loop {1 / loop_s:.1f} FPS (target >= 25)"
    )
    print(stats.table())
    p50 = {k: float(np.median(v)) for k, v in stats.ms.items() if v}
    print("p50 ms per stage:", {k: round(v, 2) for k, v in p50.items()})


if __name__ == "__main__":
    main()
