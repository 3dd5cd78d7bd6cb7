"""The ``mtl-edge`` command line: one small function per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .assets import SHIPPED_CHECKPOINT
from .backends import backend_choices
from .extras import missing_extra


def _size(text: str) -> tuple[int, int]:
    """Parse WxH (e.g. 1280x720) into (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size {text} must be even and at least 64x64 (H.264 needs even sizes)")
    return w, h


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.synth.writer import SynthOptions, generate

    options = SynthOptions(seed=args.seed, width=args.size[0], height=args.size[1], clip_frames=args.clip, fps=args.fps)
    made, skipped = generate(args.out, args.n, options, workers=args.workers, progress=not args.quiet)
    kind = "clips" if args.clip else "scenes"
    print(f"{args.out}: wrote {made} {kind}, kept {skipped} already done")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from .data.show import show

    written = show(args.path, args.out, n=args.n, names=args.names, every=args.every)
    for path in written:
        print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_recipe
    from .train import train

    recipe = load_recipe(args.recipe, check_paths=True)
    best = train(recipe, args.out, resume=args.resume, progress=not args.quiet, post_fit_from=args.post_fit_from)
    print(f"best checkpoint: {best}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from .config import recipe_from_dict
    from .data.splits import prepare_split
    from .evaluate import evaluate, print_summary
    from .fileio import atomic_write
    from .models.loading import load_model

    net, ckpt = load_model(args.checkpoint)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{args.checkpoint} (recipe)")
    root = args.data or prepare_split(recipe.data.val, "val", progress=True)
    if root is None:
        raise ValueError("the checkpoint's recipe has no validation folder; pass --data DIR")
    results = evaluate(
        net, root, tuple(recipe.data.imgsz), n_images=args.n, score_threshold=args.score_threshold, progress=True
    )
    print(print_summary(results))
    if args.json:
        atomic_write(args.json, lambda f: json.dump(results, f, indent=2, default=float), text=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.exporter import export

    options = ("precision", "imgsz", "batch", "calib", "calib_images", "calib_method", "keep", "int8_target")
    options += ("val", "val_images")
    options += ("engine", "workspace", "timing_cache", "dla_core")
    report = export(args.checkpoint, args.out, **{name: getattr(args, name) for name in options})
    print(report.summary())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .export.check_report import check_file

    report = check_file(args.model, target=args.target, trt_major=args.trt, dynamic_batch=args.dynamic_batch or None)
    print(report.to_json() if args.json else report.summary())
    return 0 if report.ok else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    report = run_doctor(args.checkpoint, args.out, calib=args.calib, trt_major=args.trt)
    return 0 if report["ok"] else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .deploy.results import Thresholds
    from .runtime.api import Runtime
    from .runtime.live import ReconnectPolicy

    _show_stream_events()
    thresholds = Thresholds(vehicles=args.score_threshold, signs=args.score_threshold)
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
    from .demo import run_demo

    stats, video = run_demo(args.out, args.checkpoint, args.frames, args.seed, args.backend)
    print(stats.summary())
    print(f"annotated video: {video}  results: {args.out / 'results.jsonl'}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    import json

    from .fileio import atomic_write
    from .profile import compare, plot, profile_model, table

    if args.compare:
        if len(args.model) != 1:
            raise ValueError("--compare takes one checkpoint")
        args.out.mkdir(parents=True, exist_ok=True)
        profiles = compare(args.model[0], args.compare.split(","), args.out, args.frames, args.val_images)
    else:
        profiles = [profile_model(m, args.backend, args.frames, args.threads) for m in args.model]
    print(table(profiles))
    if args.json:
        atomic_write(args.json, lambda f: json.dump([p.as_dict() for p in profiles], f, indent=2), text=True)
    if args.plot:
        plot(profiles, args.plot)
        print(f"chart: {args.plot}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .info import describe

    print(describe(args.checkpoint, args.imgsz))
    return 0


def _hw(text: str) -> tuple[int, int]:
    """Parse HxW (e.g. 384x640) into (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 384x640, got {text!r}") from None
    return h, w


def _command(parent: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows defaults."""
    return parent.add_parser(
        name, help=help, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtl-edge",
        description="Multi-task driving perception (lanes, vehicles, signs, drivable area) for the edge.",
    )
    parser.add_argument("--version", action="version", version=f"mtl-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser(
        "data",
        help="generate and inspect datasets",
        description="Generate labelled synthetic driving scenes and draw labels for checking.",
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = _command(
        data_sub,
        "synth",
        "render labelled dash-cam scenes (BDD100K layout)",
        "Render labelled forward-facing dash-cam scenes: lanes (poly2d), vehicles and traffic signs "
        "(box2d), drivable-area masks, in the BDD100K layout. Deterministic by seed; an interrupted "
        "run resumes where it stopped when run again with the same options.",
    )
    synth.add_argument("--out", type=Path, required=True, help="dataset folder to create or resume")
    synth.add_argument("--n", type=_positive, required=True, help="number of scenes (or clips with --clip)")
    synth.add_argument("--seed", type=int, default=0, help="base seed; item i uses a seed derived from (seed, i)")
    synth.add_argument(
        "--clip",
        type=_positive,
        default=None,
        metavar="FRAMES",
        help="render N temporally coherent clips of FRAMES frames each, as H.264 mp4 + labels",
    )
    synth.add_argument("--fps", type=float, default=30.0, help="clip frame rate")
    synth.add_argument("--size", type=_size, default=(1280, 720), metavar="WxH", help="frame size")
    synth.add_argument("--workers", type=_positive, default=None, help="processes (default: all cores)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=cmd_data_synth)

    show = _command(
        data_sub,
        "show",
        "draw labels over images to PNG files",
        "Draw drivable-area masks, lane polylines and labelled boxes over dataset images (or the "
        "frames of a generated clip) and write PNG files for a person to check.",
    )
    show.add_argument("path", type=Path, help="a dataset folder (with labels.json) or a clip .mp4 beside its .json")
    show.add_argument("--out", type=Path, default=None, help="folder for the PNG files (default: PATH/show)")
    show.add_argument("--n", type=_positive, default=8, help="how many images to draw")
    show.add_argument("--names", nargs="+", default=None, help="draw these image names instead of the first N")
    show.add_argument("--every", type=_positive, default=30, help="for a clip: draw every K-th frame")
    show.set_defaults(func=cmd_data_show)

    tr = _command(
        sub,
        "train",
        "train a network from a recipe",
        "Train a multi-task network from a YAML recipe (see recipes/). Generated data named by the recipe "
        "are created on first use. Writes DIR/last.pt every epoch and DIR/best.pt when the mean of the "
        "heads' headline metrics improves. Launch with torchrun for several processes (DDP).",
    )
    tr.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/synth-edge.yaml")
    tr.add_argument("--out", type=Path, required=True, help="run folder for checkpoints")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.add_argument(
        "--post-fit-from",
        "--glimpse-from",
        dest="post_fit_from",
        type=Path,
        default=None,
        metavar="CKPT",
        help="skip the main schedule: start from CKPT (trained with this recipe minus the modules its "
        "heads fit after the schedule, e.g. glimpse classifiers) and only run those post-fit stages "
        "(the glimpse fit: minutes on a CPU). --glimpse-from is the old name of this option",
    )
    tr.set_defaults(func=cmd_train)

    ev = _command(
        sub,
        "eval",
        "per-task metrics of a checkpoint",
        "Evaluate a checkpoint in source-image pixels: lanes F1 (CULane rule) and TuSimple accuracy, "
        "vehicles and signs mAP@0.5 and @0.5:0.95 with AP per class, drivable mIoU.",
    )
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--data", type=Path, default=None, help="dataset folder (default: the recipe's validation split)")
    ev.add_argument("--n", type=_positive, default=None, help="evaluate only the first N images")
    ev.add_argument("--score-threshold", type=float, default=0.3, help="deploy threshold for precision/recall")
    ev.add_argument("--json", type=Path, default=None, help="also write every number to this JSON file")
    ev.set_defaults(func=cmd_eval)

    ex = _command(
        sub,
        "export",
        "checkpoint -> one fused ONNX graph (fp32/fp16/int8) -> TensorRT engine",
        "Export a checkpoint to ONNX: uint8 NHWC frames in, every head's decoded outputs out (<head>.<field>), "
        "nodes named after their modules, model metadata embedded, checked with onnx.checker (full_check) and "
        "against TensorRT 10/11's operator rules. fp16 converts the trunk and head towers to float16 (I/O and "
        "decode stay float32); int8 inserts Q/DQ (per-channel int8 weights) calibrated on --calib frames, "
        "caching the ranges: symmetric activations for TensorRT, or uint8 for ONNX Runtime on a CPU (--int8-target). "
        "The written file is then evaluated through ONNX Runtime on validation images and "
        "compared per head with the FP32 graph. --engine also builds a TensorRT engine (needs TensorRT and an "
        "NVIDIA GPU).",
    )
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("--out", type=Path, required=True, help="the .onnx file to write (atomically)")
    ex.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32", help="graph precision")
    ex.add_argument("--imgsz", type=_hw, default=None, metavar="HxW", help="input size (default: the recipe's)")
    ex.add_argument("--batch", default="1", help="batch size of the graph, or 'dynamic' (1 to 64)")
    ex.add_argument("--calib", type=Path, default=None, help="int8: folder of calibration frames (default: recipe's)")
    ex.add_argument("--calib-images", type=int, default=200, metavar="N", help="int8: frames used to calibrate")
    ex.add_argument(
        "--calib-method",
        choices=["minmax", "percentile"],
        default="minmax",  # export.calibration.DEFAULT_CALIBRATION_METHOD, without importing onnx here
        help="int8 activation ranges: 'minmax' keeps every observed value; 'percentile' clips each at its "
        "99.999th percentile (the features the logits convs read keep their full range)",
    )
    ex.add_argument(
        "--keep",
        action="append",
        default=None,
        metavar="HEAD[=fp16|fp32]",
        help="keep a head (its tower and decode) at higher precision; repeatable (default precision: fp32)",
    )
    ex.add_argument(
        "--int8-target",
        choices=["tensorrt", "cpu"],
        default="tensorrt",
        help="int8 flavour: 'tensorrt' (symmetric, zero point 0: builds on TensorRT and runs on ONNX Runtime) or "
        "'cpu' (uint8 activations: fastest on ONNX Runtime x86, rejected by TensorRT)",
    )
    ex.add_argument(
        "--val", type=Path, default=None, help="validation folder for the accuracy check (default: the recipe's)"
    )
    ex.add_argument("--val-images", type=int, default=300, metavar="N", help="images for the accuracy check; 0 skips")
    ex.add_argument("--engine", type=Path, default=None, help="also build this TensorRT engine from the ONNX file")
    ex.add_argument("--workspace", type=float, default=None, metavar="GB", help="TensorRT workspace limit")
    ex.add_argument("--timing-cache", type=Path, default=None, help="TensorRT timing cache file (read and updated)")
    ex.add_argument("--dla-core", type=int, default=None, metavar="N", help="build for this DLA core, GPU fallback on")
    ex.set_defaults(func=cmd_export)

    ck = _command(
        sub,
        "check",
        "TensorRT parser rules on an ONNX file, without TensorRT",
        "Check an ONNX file against TensorRT's ONNX-parser rules (onnx-tensorrt's operator table and importer, "
        "kept in mtl_edge/export/trt_rules.json; docs/tensorrt-rules.md) with no GPU: shape and type inference, "
        "then every node's op, dtypes, constant inputs and attributes, uint8 and Q/DQ placement, bindable I/O "
        "and static shapes. Each finding names the node, the rule, its source and the fix. An INT8 graph also "
        "gets its INT8 placement report. Exit code: 0 passes (warnings may print), 1 errors found, 2 bad input.",
    )
    ck.add_argument("model", type=Path, help="the .onnx file to check")
    ck.add_argument("--target", choices=["tensorrt", "ort"], default="tensorrt", help="runtime whose rules apply")
    ck.add_argument("--trt", type=int, choices=[10, 11], default=10, help="TensorRT major version (10: JetPack 6)")
    ck.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="allow a symbolic batch dimension (default: only where the model's metadata says batch is dynamic)",
    )
    ck.add_argument("--json", action="store_true", help="print the report as JSON")
    ck.set_defaults(func=cmd_check)

    dr = _command(
        sub,
        "doctor",
        "acceptance run on a TensorRT machine: environment, exports, engines vs ONNX Runtime",
        "Check the environment (TensorRT, CUDA, cuda-python, GPU, compute capability, DLA cores), export the "
        "checkpoint at fp32, fp16 and int8 and check each against TensorRT's parser rules; where TensorRT and a "
        "GPU are present, build each engine with a timing cache, compare every head with ONNX Runtime, profile "
        "per head and count INT8 and reformat layers. Without TensorRT it stops after the ONNX-only steps and "
        "says what it skipped. Writes OUT/doctor.json. Exit code: 0 every check that ran passed, 1 one failed.",
    )
    dr.add_argument(
        "checkpoint", type=Path, nargs="?", default=SHIPPED_CHECKPOINT, help="checkpoint to export (default: shipped)"
    )
    dr.add_argument("--out", type=Path, default=Path("doctor"), help="folder for the exports, engines and doctor.json")
    dr.add_argument(
        "--calib", type=Path, default=None, metavar="DIR", help="int8 calibration frames (default: 32 generated)"
    )
    dr.add_argument(
        "--trt", type=int, choices=[10, 11], default=None, help="TensorRT rules (default: the installed major, else 10)"
    )
    dr.set_defaults(func=cmd_doctor)

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
    run.add_argument("--score-threshold", type=float, default=0.3, help="vehicle and sign score threshold")
    run.add_argument("--hud", action="store_true", help="draw FPS and inference ms on rendered frames")
    run.set_defaults(func=cmd_run)

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
    dm.set_defaults(func=cmd_demo)

    pr = _command(
        sub,
        "profile",
        "latency per head, and per precision",
        "Time the shared trunk (backbone + neck), each head including its decode, the in-graph preprocessing, "
        "the host's letterbox and post-processing, and the whole call (mean and p99 after warm-up). ONNX Runtime "
        "uses its session profiler per node, torch forward hooks per module, TensorRT an IProfiler per layer; "
        "node names carry their owner, so times group per head. --compare exports each precision of a checkpoint "
        "and adds each head's metric change against FP32.",
    )
    pr.add_argument("model", type=Path, nargs="+", help=".onnx, .engine or checkpoint .pt; several: one row/bar each")
    pr.add_argument("--backend", choices=backend_choices(), default="auto", help="backend to profile")
    pr.add_argument("--frames", type=int, default=50, help="timed calls after warm-up")
    pr.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    pr.add_argument("--compare", default=None, metavar="fp32,fp16,int8", help="precisions to export and compare")
    pr.add_argument("--val-images", type=int, default=100, help="--compare: images for the metric change")
    pr.add_argument("--out", type=Path, default=Path("runs/profile"), help="--compare: where the graphs go")
    pr.add_argument("--json", type=Path, default=None, help="write every number to this JSON file")
    pr.add_argument("--plot", type=Path, default=None, help="write a stacked bar chart PNG")
    pr.set_defaults(func=cmd_profile)

    info = _command(
        sub,
        "info",
        "size, cost, heads and classes of a checkpoint",
        "Print a checkpoint's parameters, GFLOPs (deploy form), heads, classes and recorded metrics.",
    )
    info.add_argument("checkpoint", type=Path)
    info.add_argument("--imgsz", type=_hw, default=None, metavar="HxW", help="input size (default: the recipe's)")
    info.set_defaults(func=cmd_info)
    return parser


def _engine_errors() -> type[Exception]:
    from .backends.trt.cuda import EngineBuildError

    return EngineBuildError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished files are kept and a re-run resumes", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:  # a lazily imported module of an extra that is not installed
        hint = missing_extra(e)
        if hint is None:
            raise
        print(f"mtl-edge: error: {hint}", file=sys.stderr)
        return 2
    except (ValueError, OSError, _engine_errors()) as e:  # our errors say what to fix; no traceback for them
        print(f"mtl-edge: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
