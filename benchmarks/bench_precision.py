"""ONNX Runtime latency of each precision of one model, against its FP32 graph in the same run.

Exports (or reuses, with --reuse) the FP32, FP16, INT8-TensorRT (symmetric int8
activations) and INT8-CPU (uint8 activations) graphs of a checkpoint, then times one
batch-1 ``session.run`` per frame on the given threads, interleaving the variants round
by round so that drift in the machine's speed hits them alike. Prints a table of
p50/mean ms and the ratio of each to FP32 (the target for INT8 is at most 0.75x).

    python benchmarks/bench_precision.py                 # the shipped model, 2 threads
    python benchmarks/bench_precision.py --ckpt runs/x/best.pt --threads 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mtl_edge.assets import SHIPPED_CHECKPOINT
from mtl_edge.metrics import format_table

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


def time_sessions(paths: dict[str, Path], threads: int, rounds: int, per_round: int) -> dict[str, list[float]]:
    import onnxruntime as ort

    sessions = {}
    for name, path in paths.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    first = next(iter(sessions.values())).get_inputs()[0]
    frame = np.random.default_rng(0).integers(0, 256, first.shape, dtype=np.uint8)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():  # warm-up
        for _ in range(3):
            s.run(None, {first.name: frame})
    for _ in range(rounds):
        for name, s in sessions.items():
            for _ in range(per_round):
                start = time.perf_counter()
                s.run(None, {first.name: frame})
                times[name].append((time.perf_counter() - start) * 1e3)
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
    base = float(np.median(times["fp32"]))
    rows = [
        {
            "graph": name,
            "p50 ms": float(np.median(t)),
            "mean ms": float(np.mean(t)),
            "p99 ms": float(np.percentile(t, 99)),
            "x FP32 (p50)": float(np.median(t)) / base,
            "MB": paths[name].stat().st_size / 1e6,
        }
        for name, t in times.items()
    ]
    print(f"\nONNX Runtime, {args.threads} threads, batch 1, {args.rounds * args.per_round} runs each ({args.ckpt})")
    print(format_table(rows, floatfmt=".2f"))


if __name__ == "__main__":
    main()
