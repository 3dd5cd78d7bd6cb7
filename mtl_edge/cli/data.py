"""``mtl-edge data synth`` and ``mtl-edge data show``: generate a dataset, draw its labels."""

from __future__ import annotations

import argparse

from .args import _command, existing_path, float_range, non_negative_int, output_dir, positive_int, wh_size


def cmd_data_synth(args: argparse.Namespace) -> int:
    from ..data.synth.writer import SynthOptions, generate

    options = SynthOptions(seed=args.seed, width=args.size[0], height=args.size[1], clip_frames=args.clip, fps=args.fps)
    made, skipped = generate(args.out, args.n, options, workers=args.workers, progress=not args.quiet)
    kind = "clips" if args.clip else "scenes"
    print(f"{args.out}: wrote {made} {kind}, kept {skipped} already done")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from ..data.show import show

    written = show(args.path, args.out, n=args.n, names=args.names, every=args.every)
    for path in written:
        print(path)
    return 0


def add_data_parsers(sub: argparse._SubParsersAction) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``data`` group; returns its (synth, show) parsers."""
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
    synth.add_argument("--out", type=output_dir, required=True, help="dataset folder to create or resume")
    synth.add_argument("--n", type=positive_int, required=True, help="number of scenes (or clips with --clip)")
    synth.add_argument(
        "--seed", type=non_negative_int, default=0, help="base seed; item i uses a seed derived from (seed, i)"
    )
    synth.add_argument(
        "--clip",
        type=positive_int,
        default=None,
        metavar="FRAMES",
        help="render N temporally coherent clips of FRAMES frames each, as H.264 mp4 + labels",
    )
    synth.add_argument("--fps", type=float_range(0.0, 240.0, low_open=True), default=30.0, help="clip frame rate")
    synth.add_argument("--size", type=wh_size, default=(1280, 720), metavar="WxH", help="frame size")
    synth.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")

    show = _command(
        data_sub,
        "show",
        "draw labels over images to PNG files",
        "Draw drivable-area masks, lane polylines and labelled boxes over dataset images (or the "
        "frames of a generated clip) and write PNG files for a person to check.",
    )
    show.add_argument(
        "path", type=existing_path, help="a dataset folder (with labels.json) or a clip .mp4 beside its .json"
    )
    show.add_argument("--out", type=output_dir, default=None, help="folder for the PNG files (default: PATH/show)")
    show.add_argument("--n", type=positive_int, default=8, help="how many images to draw")
    show.add_argument("--names", nargs="+", default=None, help="draw these image names instead of the first N")
    show.add_argument("--every", type=positive_int, default=30, help="for a clip: draw every K-th frame")
    return synth, show
