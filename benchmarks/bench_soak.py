"""Soak: thousands of frames through the ONNX Runtime loop with JSONL and mp4 sinks.

Streams a short generated clip on a loop (``Runtime.stream(clip, loop=True,
max_frames=N, sinks=[out.jsonl, out.mp4])``), so the whole service path runs: decode,
letterbox, one ONNX Runtime call, results in source pixels, drawing, H.264 encoding and
JSON lines. It samples the process's resident memory (VmRSS from /proc/self/status)
and each frame's time, and prints one row per window of frames (default 1,000): RSS at
the window's end and its peak, p50/p99 of the wall time between results (the loop's
pace, sinks' back-pressure included) and of the engine call alone.

Verdicts, measured in this run:
  - RSS growth from the end of the warm-up window (the first window) to the end of the
    run: target < 20 MB;
  - p99 of the last window over p99 of the first window after warm-up (a ratio): target
    within 20% (<= 1.20).
It also prints the loop's RSS, the figure to compare with the 906 MB measured before
the restructuring (when torch was on the deploy path). The model is exported and the clip
rendered in child processes, so torch never enters this one; the run checks that.

    python benchmarks/bench_soak.py                       # 10,000 frames, exports the shipped checkpoint
    python benchmarks/bench_soak.py --model runs/bench-precision/int8-cpu.onnx --frames 5000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.deploy.table import format_table
from mtl_edge.fileio import atomic_write

WORK = Path("runs/bench-soak")
RSS_TARGET_MB = 20.0
P99_TARGET_RATIO = 1.20


def rss_mb() -> float:
    """This process's resident set size in MB (VmRSS), without resource or psutil."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def peak_rss_mb() -> float:
    """The process's peak resident set size in MB (VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(code: str) -> None:
    """Run ``code`` in a fresh interpreter, so that what it imports (torch) stays out of this process."""
    subprocess.run([sys.executable, "-c", code], check=True)


def shipped_model() -> Path:
    """The shipped checkpoint exported to FP32 ONNX once (no accuracy check), then reused."""
    out = WORK / "shipped-fp32.onnx"
    if not out.exists():
        print(f"exporting the shipped checkpoint to {out} ...", flush=True)
        child(
            "from mtl_edge.assets import SHIPPED_CHECKPOINT; from mtl_edge.export.exporter import export; "
            f"export(SHIPPED_CHECKPOINT, {str(out)!r}, val_images=0)"
        )
    return out


def clip_path(frames: int, size: str) -> Path:
    """A generated H.264 clip of ``frames`` frames at ``size`` (rendered once, then reused)."""
    root = WORK / f"clip-{frames}f-{size}"
    mp4 = root / "videos" / "clip_0000.mp4"
    if not mp4.exists():
        print(f"rendering a {frames}-frame {size} clip into {root} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "mtl_edge.cli", "data", "synth", "--out", str(root), "--n", "1"]
            + ["--clip", str(frames), "--size", size, "--seed", "7", "--workers", "1", "--quiet"],
            check=True,
        )
    return mp4


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def soak(model: Path, clip: Path, frames: int, window: int, threads: int | None, out_dir: Path) -> dict[str, Any]:
    """Stream ``frames`` frames; per-window rows and the verdict figures."""
    import mtl_edge

    rss_start = rss_mb()
    runtime = mtl_edge.Runtime(model, backend="ort", threads=threads)
    rss_loaded = rss_mb()
    sinks = [out_dir / "out.jsonl", out_dir / "out.mp4"]
    intervals, infer, rss_samples = np.zeros(frames), np.zeros(frames), np.zeros(frames)
    indices: list[int] = []
    n = 0
    start = last = time.perf_counter()
    for result in runtime.stream(clip, loop=True, max_frames=frames, sinks=sinks):
        now = time.perf_counter()
        intervals[n], last = (now - last) * 1e3, now
        infer[n] = result.timings.get("infer", float("nan"))
        rss_samples[n] = rss_mb()
        if n % window == 0:
            indices.append(result.index)
        n += 1
    wall = time.perf_counter() - start
    stats = runtime.last_stats
    rss_end = rss_mb()
    runtime.close()
    if n < frames:
        raise SystemExit(f"the loop ended after {n} of {frames} frames")

    rows = []
    for w in range(frames // window):
        sl = slice(w * window, (w + 1) * window)
        rows.append(
            {
                "frames": f"{w * window}-{(w + 1) * window - 1}" + (" (warm-up)" if w == 0 else ""),
                "RSS MB": float(rss_samples[sl][-1]),
                "RSS max MB": float(rss_samples[sl].max()),
                "p50 ms": float(np.percentile(intervals[sl], 50)),
                "p99 ms": float(np.percentile(intervals[sl], 99)),
                "infer p50 ms": float(np.percentile(infer[sl], 50)),
                "infer p99 ms": float(np.percentile(infer[sl], 99)),
                "FPS": window / (intervals[sl].sum() / 1e3),
            }
        )
    first, last_row = rows[1], rows[-1]
    growth = last_row["RSS MB"] - rows[0]["RSS MB"]
    return {
        "model": str(model),
        "clip": str(clip),
        "frames": frames,
        "window": window,
        "threads": threads,
        "wall_s": wall,
        "fps": frames / wall,
        "rows": rows,
        "rss_before_model_mb": rss_start,
        "rss_model_loaded_mb": rss_loaded,
        "rss_loop_mb": float(np.median(rss_samples[window:])),
        "rss_end_mb": rss_end,
        "rss_peak_mb": peak_rss_mb(),
        "rss_growth_mb": growth,
        "rss_growth_ok": bool(growth < RSS_TARGET_MB),
        "p99_ratio": last_row["p99 ms"] / first["p99 ms"],
        "p99_ok": bool(last_row["p99 ms"] / first["p99 ms"] <= P99_TARGET_RATIO),
        "infer_p99_ratio": last_row["infer p99 ms"] / first["infer p99 ms"],
        "torch_loaded": "torch" in sys.modules,
        "dropped": stats.dropped,
        "sink_skipped": stats.sink_skipped,
        "corrupt": stats.corrupt,
        "outputs_mb": {p.name: p.stat().st_size / 2**20 for p in sinks if p.exists()},
        "jsonl_lines": count_lines(sinks[0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help=".onnx model (default: the shipped checkpoint, exported to FP32 once)")
    ap.add_argument("--clip", type=Path, help="video to loop (default: a generated clip, see --clip-frames/--size)")
    ap.add_argument("--clip-frames", type=int, default=150, help="length of the generated clip (default: 150)")
    ap.add_argument("--size", default="640x384", help="generated clip's WxH (default: 640x384, cheap to encode)")
    ap.add_argument("--frames", type=int, default=10000, help="frames to stream (default: 10000)")
    ap.add_argument("--window", type=int, default=1000, help="frames per row; the first is warm-up (default: 1000)")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: the runtime's own)")
    ap.add_argument("--keep", action="store_true", help=f"keep out.jsonl and out.mp4 in {WORK}/out")
    ap.add_argument("--json", type=Path, help="also write the figures here (atomically)")
    args = ap.parse_args()
    if args.window < 1 or args.frames < 3 * args.window:
        ap.error(f"--frames must be at least 3 windows ({3 * max(args.window, 1)}): warm-up, first and last")
    if args.frames % args.window:
        ap.error("--frames must be a whole number of --window")
    if args.clip_frames < 1:
        ap.error("--clip-frames must be >= 1")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.model is not None and not args.model.is_file():
        ap.error(f"--model {args.model}: not found")
    if args.clip is not None and not args.clip.is_file():
        ap.error(f"--clip {args.clip}: not found")

    model = args.model or shipped_model()
    clip = args.clip or clip_path(args.clip_frames, args.size)
    out_dir = WORK / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    print(f"soaking {model} on {clip} (looped) for {args.frames} frames ...", flush=True)
    r = soak(model, clip, args.frames, args.window, args.threads, out_dir)
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)

    print(
        f"\n{model}, {args.frames} frames of {clip} looped, sinks out.jsonl + out.mp4, "
        f"ORT threads {args.threads or 'default'}: {r['wall_s']:.0f} s, {r['fps']:.1f} FPS; "
        f"dropped {r['dropped']}, sink-skipped {r['sink_skipped']}, corrupt {r['corrupt']}; "
        f"outputs {', '.join(f'{k} {v:.1f} MB' for k, v in r['outputs_mb'].items())}, {r['jsonl_lines']} JSON lines"
    )
    print("p50/p99 ms: wall time between results (the loop's pace); infer: the ONNX Runtime call alone")
    print(format_table(r["rows"], floatfmt=".1f"))
    print(
        f"RSS growth after warm-up: {r['rss_growth_mb']:+.1f} MB (end of frame {args.window - 1} to the end; "
        f"target < {RSS_TARGET_MB:.0f} MB): {'PASS' if r['rss_growth_ok'] else 'FAIL'}"
    )
    print(
        f"p99 last window / first after warm-up: {r['p99_ratio']:.2f}x (target <= {P99_TARGET_RATIO:.2f}x): "
        f"{'PASS' if r['p99_ok'] else 'FAIL'}; engine call alone {r['infer_p99_ratio']:.2f}x"
    )
    print(
        f"loop RSS: {r['rss_loop_mb']:.0f} MB median after warm-up, peak {r['rss_peak_mb']:.0f} MB "
        f"(before the restructuring: 906 MB); {r['rss_before_model_mb']:.0f} MB before the model loaded, "
        f"{r['rss_model_loaded_mb']:.0f} MB after; torch in this process: {'yes' if r['torch_loaded'] else 'no'}"
    )
    if args.json:
        atomic_write(args.json, lambda f: json.dump(r, f, indent=2), text=True)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
