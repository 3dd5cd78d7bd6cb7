"""ONNX Runtime latency of each precision of one model, against its FP32 graph in the same run.

Exports (or reuses, with --reuse) the FP32, FP16, INT8-TensorRT (symmetric int8
activations) and INT8-CPU (uint8 activations) graphs of a checkpoint, then times one
batch-1 ``session.run`` per frame on the given threads, interleaving the variants round
by round so that drift in the machine's speed hits them alike. Every graph is timed at
ONNX Runtime's two top optimisation levels, ALL (adds the NCHWc float-conv layout and
the NHWC uint8-conv layout) and EXTENDED, since the best level differs per graph; the
ratio column compares each row with FP32 at its own best level, and the second table
pairs each graph's best level with FP32's best (the target for INT8 is at most 0.75x).
The level the runtime picks for each graph is ``mtl_edge.backends.ort.optimization_level``.

    python benchmarks/bench_precision.py                 # the shipped model, 2 threads
    python benchmarks/bench_precision.py --ckpt runs/x/best.pt --threads 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mtl_edge.assets import SHIPPED_CHECKPOINT
from mtl_edge.backends.ort import optimization_level, session_options
from mtl_edge.deploy.table import format_table
from mtl_edge.export.onnx import read_metadata

VARIANTS = {
    "fp32": {"precision": "fp32"},
    "fp16": {"precision": "fp16"},
    "int8 (TensorRT graph)": {"precision": "int8", "int8_target": "tensorrt"},
    "int8 (CPU graph)": {"precision": "int8", "int8_target": "cpu"},
}


def export_all(ckpt: Path, out_dir: Path, calib_images: int, reuse: bool) -> dict[str, Path]:
    from mtl_edge.export.exporter import export

    paths = {}
    for name, options in VARIANTS.items():
        path = out_dir / (name.split(" ")[0] + ("-cpu" if "CPU" in name else "") + ".onnx")
        if not (reuse and path.exists()):
            start = time.perf_counter()
            export(ckpt, path, calib_images=calib_images, val_images=0, **options)
            print(f"exported {name} in {time.perf_counter() - start:.1f} s -> {path}")
        paths[name] = path
    return paths


LEVELS = ("all", "extended")


def time_sessions(
    paths: dict[str, Path], threads: int, rounds: int, per_round: int
) -> dict[tuple[str, str], list[float]]:
    """Per-run milliseconds of every (graph, optimisation level), interleaved round by round."""
    import onnxruntime as ort

    sessions = {}
    for name, path in paths.items():
        for level in LEVELS:
            options = session_options(threads, level)
            sessions[name, level] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    first = next(iter(sessions.values())).get_inputs()[0]
    frame = np.random.default_rng(0).integers(0, 256, first.shape, dtype=np.uint8)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    for s in sessions.values():  # warm-up
        for _ in range(3):
            s.run(None, {first.name: frame})
    for _ in range(rounds):
        for key, s in sessions.items():
            for _ in range(per_round):
                start = time.perf_counter()
                s.run(None, {first.name: frame})
                times[key].append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, default=SHIPPED_CHECKPOINT, help="checkpoint (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-precision"), help="where the graphs are written")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--rounds", type=int, default=10, help="rounds; each times every variant")
    ap.add_argument("--per-round", type=int, default=10, help="runs per variant per round")
    ap.add_argument("--calib-images", type=int, default=200, help="INT8 calibration frames")
    ap.add_argument("--reuse", action="store_true", help="reuse graphs already in --out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    paths = export_all(args.ckpt, args.out, args.calib_images, args.reuse)
    times = time_sessions(paths, args.threads, args.rounds, args.per_round)
    p50 = {key: float(np.median(t)) for key, t in times.items()}
    best = {name: min(LEVELS, key=lambda level: p50[name, level]) for name in paths}
    base = p50["fp32", best["fp32"]]
    rows = [
        {
            "graph": name,
            "ORT level": level,
            "p50 ms": p50[name, level],
            "mean ms": float(np.mean(t)),
            "p99 ms": float(np.percentile(t, 99)),
            "x FP32 (p50)": p50[name, level] / base,
            "MB": paths[name].stat().st_size / 1e6,
        }
        for (name, level), t in times.items()
    ]
    runs = args.rounds * args.per_round
    print(f"\nONNX Runtime, {args.threads} threads, batch 1, {runs} runs each ({args.ckpt}); FP32 at {best['fp32']}")
    print(format_table(rows, floatfmt=".2f"))
    summary = [
        {
            "graph": name,
            "best level": best[name],
            "runtime's level": optimization_level(read_metadata(path)),
            "p50 ms": p50[name, best[name]],
            "x FP32 (p50, each at its best)": p50[name, best[name]] / base,
        }
        for name, path in paths.items()
    ]
    print("\neach graph at its fastest level, against FP32 at its fastest")
    print(format_table(summary, floatfmt=".2f"))


if __name__ == "__main__":
    main()
