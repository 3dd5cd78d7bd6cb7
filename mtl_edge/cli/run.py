"""``mtl-edge run`` and ``mtl-edge demo``: stream a source through a model, or the shipped one on a clip."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..backends import backend_choices
from .args import _command, existing_path, float_range, int_range, output_dir, positive_float, positive_int, unit_float

non_negative_float = float_range(0.0)

#: ``mtl-edge run`` exit codes (also in its --help and docs/runtime.md)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143: stopped, sinks published
EXIT_CODES = (
    "exit codes: 0 done; 1 error; 2 bad input or usage (e.g. a sink that is the source); 3 partial input "
    "(the video ended early, a frame or image was corrupt or truncated, or no frame was processed); "
    "130 / 143 stopped by SIGINT / SIGTERM after every sink was published. "
    "SIGINT or SIGTERM stops capture, drains the frames in flight, publishes every sink and prints the "
    "summary; a second signal exits at once (128 + signal), leaving the sinks as written so far."
)


def cmd_run(args: argparse.Namespace) -> int:
    from ..deploy.results import Thresholds
    from ..runtime.api import Runtime
    from ..runtime.live import ReconnectPolicy
    from ..runtime.sinks import check_sinks

    _show_stream_events()
    check_sinks(args.source, args.sink or [])  # before the model loads
    thresholds = Thresholds(by_kind={"detection": args.score_threshold})
    reconnect = ReconnectPolicy(
        open_timeout=args.read_timeout,
        read_timeout=args.read_timeout,
        give_up_after=args.give_up_after or None,
    )
    stopped: list[int] = []
    pipes: list[Any] = []  # the pipeline a signal stops, once there is one
    try:
        with (
            _stop_on_signals(pipes, stopped),
            Runtime(args.model, backend=args.backend, threads=args.threads, thresholds=thresholds) as rt,
        ):
            pipe = rt.pipeline(
                args.source,
                sinks=args.sink or [],
                policy=args.policy,
                max_frames=args.max_frames,
                hud=args.hud,
                loop=args.loop,
                reconnect=reconnect,
                segment=args.segment,
            )
            pipe.summary_record = True  # the JSONL ends with {"summary": {...}}
            pipes.append(pipe)
            try:
                stats = pipe.run()
            except ValueError:  # e.g. a stream that stayed dead: say what was done before the error
                print(f"{args.model} on {rt.backend.name}, until the error: {pipe.stats.summary()}", file=sys.stderr)
                raise
    except _Stopped as e:  # before any frame: nothing to publish
        print(f"stopped by {signal.Signals(e.signum).name} before the run started; nothing written", file=sys.stderr)
        return 128 + e.signum
    if stopped:
        print(f"stopped by {signal.Signals(stopped[0]).name}; every sink is published", file=sys.stderr)
    print(f"{args.model} on {rt.backend.name}: {stats.summary()}", flush=True)
    if stopped:
        return 128 + stopped[0]
    return _input_verdict(args.source, stats)


def _input_verdict(source: str, stats: Any) -> int:
    """EXIT_PARTIAL, with a message on stderr, when the input was not all there; else EXIT_OK."""
    if stats.frames == 0:
        why = f"all {stats.corrupt} frames were corrupt" if stats.corrupt else "it gave no frame"
        print(f"error: {source}: no frame processed ({why}); the input is unreadable", file=sys.stderr)
    elif stats.ended_early:
        print(f"error: {source} ended early: {stats.frames} of {stats.expected} frames (truncated?)", file=sys.stderr)
    elif stats.corrupt:
        print(f"warning: {source}: {stats.corrupt} corrupt frames skipped (partial input)", file=sys.stderr)
    return EXIT_PARTIAL if stats.partial else EXIT_OK


class _Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM before the pipeline existed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals(pipes: list[Any], stopped: list[int]) -> Iterator[None]:
    """While inside: SIGINT or SIGTERM asks the pipeline in ``pipes`` to stop cleanly (its
    number goes to ``stopped``), or raises :class:`_Stopped` before there is one; a second
    signal exits at once with 128 + its number."""

    def handle(signum: int, _frame: Any) -> None:
        if stopped:
            print(f"second {signal.Signals(signum).name}: exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        stopped.append(signum)
        if not pipes:
            raise _Stopped(signum)
        print(f"{signal.Signals(signum).name}: stopping; publishing the sinks (again to force)", file=sys.stderr)
        pipes[0].request_stop()

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handle)
    except ValueError:  # not the main thread: signals stay as they were
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


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
    from ..assets import SHIPPED_CHECKPOINT
    from ..demo import SHIPPED_MODEL_NOTE, run_demo

    stats, video = run_demo(args.out, args.checkpoint, args.frames, args.seed, args.backend)
    print(stats.summary())
    print(f"annotated video: {video}  results: {args.out / 'results.jsonl'}")
    if args.checkpoint is None or Path(args.checkpoint).resolve() == SHIPPED_CHECKPOINT.resolve():
        print(SHIPPED_MODEL_NOTE)
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
        "p50/p99 ms, FPS and dropped frames at the end (also on Ctrl-C or SIGTERM). Sinks are crash-safe: "
        "after a kill or a power cut the JSONL and the (fragmented) mp4 at their final paths hold every result up "
        "to the last second or so.",
    )
    run.epilog = EXIT_CODES
    run.add_argument("model", type=Path)
    run.add_argument(
        "--source", required=True, help="video file, image folder/glob, camera index, v4l2://, csi://, rtsp://, http://"
    )
    run.add_argument("--sink", action="append", default=None, help="out.mp4, out.jsonl, an image folder or display://")
    run.add_argument("--backend", choices=backend_choices(), default="auto", help="inference backend")
    run.add_argument("--policy", choices=["latest", "all"], default=None, help="default: latest (live), all (files)")
    run.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N frames")
    run.add_argument("--loop", action="store_true", help="replay a file or folder source without end")
    run.add_argument(
        "--read-timeout", type=positive_float, default=5.0, metavar="S", help="live source read/open timeout"
    )
    run.add_argument(
        "--give-up-after",
        type=non_negative_float,
        default=60.0,
        metavar="S",
        help="end with an error when a live source gave no frame for S seconds (0: retry forever)",
    )
    run.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime threads (default: all cores)")
    run.add_argument(
        "--score-threshold",
        type=unit_float,
        default=0.3,
        help="score threshold of every detection head (vehicles, signs)",
    )
    run.add_argument("--hud", action="store_true", help="draw FPS and inference ms on rendered frames")
    run.add_argument(
        "--segment",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help="rotate video and JSONL sinks every S seconds of run time: out.mp4 -> out_00000.mp4, out_00001.mp4, ...",
    )
    return run


def _positive_seconds(text: str) -> float:
    """An argparse type: seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0, e.g. 600")
    return value


def add_demo_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The demo command's parser."""
    dm = _command(
        sub,
        "demo",
        "the shipped model on a generated driving clip",
        "Render a synthetic 1280x720 driving clip, export the shipped checkpoint to ONNX (once), stream the clip "
        "through the runtime, and write the annotated mp4 and a JSONL file of results.",
    )
    dm.add_argument("--out", type=output_dir, default=Path("runs/demo"), help="folder for the clip, model and outputs")
    dm.add_argument(
        "--checkpoint", type=existing_path, default=None, help="checkpoint to run (default: the shipped one)"
    )
    dm.add_argument("--frames", type=int_range(1, 9000), default=150, help="clip length in frames (30 FPS)")
    dm.add_argument("--seed", type=int_range(0), default=0, help="clip seed")
    dm.add_argument(
        "--backend", choices=[b for b in backend_choices() if b != "trt"], default="auto", help="inference backend"
    )
    return dm
