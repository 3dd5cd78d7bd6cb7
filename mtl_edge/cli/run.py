"""``mtl-edge run`` and ``mtl-edge demo``: stream a source through a model, or the shipped one on a clip."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..backends import backend_choices
from .args import _command


def cmd_run(args: argparse.Namespace) -> int:
    from ..deploy.results import Thresholds
    from ..runtime.api import Runtime
    from ..runtime.live import ReconnectPolicy

    _show_stream_events()
    thresholds = Thresholds(by_kind={"detection": args.score_threshold})
    reconnect = ReconnectPolicy(
        open_timeout=args.read_timeout,
        read_timeout=args.read_timeout,
        give_up_after=args.give_up_after or None,
    )
    with Runtime(args.model, backend=args.backend, threads=args.threads, thresholds=thresholds) as rt:
        pipe = rt.pipeline(
            args.source,
            sinks=args.sink or [],
            policy=args.policy,
            max_frames=args.max_frames,
            hud=args.hud,
            loop=args.loop,
            reconnect=reconnect,
        )
        try:
            stats = pipe.run()
        except KeyboardInterrupt:
            stats = pipe.stats
            print("interrupted; results so far are written", file=sys.stderr)
        except ValueError:  # e.g. a stream that stayed dead: say what was done before the error
            print(f"{args.model} on {rt.backend.name}, until the error: {pipe.stats.summary()}", file=sys.stderr)
            raise
    print(f"{args.model} on {rt.backend.name}: {stats.summary()}")
    return 0


def _show_stream_events() -> None:
    """Print the runtime's events (stream lost, retry, reconnected, new resolution) with a time stamp."""
    import logging

    logger = logging.getLogger("mtl_edge.runtime")
    if any(h.get_name() == "mtl-edge-events" for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("mtl-edge-events")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    stats, video = run_demo(args.out, args.checkpoint, args.frames, args.seed, args.backend)
    print(stats.summary())
    print(f"annotated video: {video}  results: {args.out / 'results.jsonl'}")
    return 0


def add_run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The run command's parser."""
    run = _command(
        sub,
        "run",
        "stream a video, images or a camera through a model",
        "Run MODEL (.onnx on ONNX Runtime, .engine on TensorRT, or a checkpoint on PyTorch) over a source: a video "
        "file, an image folder or glob, a camera index, v4l2:///dev/videoN, csi://N (Jetson), gst://PIPELINE, "
        "rtsp:// or http(s):// (MJPEG, MPEG-TS, ...). A camera or stream that drops or goes silent for --read-timeout "
        "is reopened with exponential backoff (0.5 s doubling to 8 s), each step logged, until no frame has come "
        "for --give-up-after seconds. "
        "Each frame is letterboxed and goes through one backend call that returns every head's final output; "
        "results are mapped back to source pixels and written to the sinks on a separate thread. Prints per-stage "
        "p50/p99 ms, FPS and dropped frames at the end (also on Ctrl-C).",
    )
    run.add_argument("model", type=Path)
    run.add_argument(
        "--source", required=True, help="video file, image folder/glob, camera index, v4l2://, csi://, rtsp://, http://"
    )
    run.add_argument("--sink", action="append", default=None, help="out.mp4, out.jsonl, an image folder or display://")
    run.add_argument("--backend", choices=backend_choices(), default="auto", help="inference backend")
    run.add_argument("--policy", choices=["latest", "all"], default=None, help="default: latest (live), all (files)")
    run.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    run.add_argument("--loop", action="store_true", help="replay a file or folder source without end")
    run.add_argument("--read-timeout", type=float, default=5.0, metavar="S", help="live source read/open timeout")
    run.add_argument(
        "--give-up-after",
        type=float,
        default=60.0,
        metavar="S",
        help="end with an error when a live source gave no frame for S seconds (0: retry forever)",
    )
    run.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    run.add_argument(
        "--score-threshold", type=float, default=0.3, help="score threshold of every detection head (vehicles, signs)"
    )
    run.add_argument("--hud", action="store_true", help="draw FPS and inference ms on rendered frames")
    return run


def add_demo_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The demo command's parser."""
    dm = _command(
        sub,
        "demo",
        "the shipped model on a generated driving clip",
        "Render a synthetic 1280x720 driving clip, export the shipped checkpoint to ONNX (once), stream the clip "
        "through the runtime, and write the annotated mp4 and a JSONL file of results.",
    )
    dm.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for the clip, model and outputs")
    dm.add_argument("--checkpoint", type=Path, default=None, help="checkpoint to run (default: the shipped one)")
    dm.add_argument("--frames", type=int, default=150, help="clip length in frames (30 FPS)")
    dm.add_argument("--seed", type=int, default=0, help="clip seed")
    dm.add_argument(
        "--backend", choices=[b for b in backend_choices() if b != "trt"], default="auto", help="inference backend"
    )
    return dm
