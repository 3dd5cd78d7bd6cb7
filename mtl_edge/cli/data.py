"""``mtl-edge data synth`` and ``mtl-edge data show``: generate a dataset, draw its labels."""

from __future__ import annotations

import argparse

from .args import (
    _command,
    add_layout_options,
    existing_path,
    float_range,
    non_negative_int,
    output_dir,
    positive_int,
    wh_size,
)

#: ``data synth --layout`` choices: the generator's own layout, then the published ones.
SYNTH_LAYOUTS: tuple[str, ...] = ("generated", "bdd100k", "culane", "mtsd")
#: Frame size of the generated layout when --size is not given.
DEFAULT_SYNTH_SIZE = (1280, 720)


def cmd_data_synth(args: argparse.Namespace) -> int:
    if args.layout != "generated":
        return _synth_published(args, args.layout)
    if args.split is not None:
        raise ValueError(
            "--split is for the published layouts (--layout bdd100k|culane|mtsd); the generated layout has no splits"
        )
    from ..data.synth.writer import SynthOptions, generate

    width, height = args.size or DEFAULT_SYNTH_SIZE
    options = SynthOptions(seed=args.seed, width=width, height=height, clip_frames=args.clip, fps=args.fps)
    made, skipped = generate(args.out, args.n, options, workers=args.workers, progress=not args.quiet)
    kind = "clips" if args.clip else "scenes"
    print(f"{args.out}: wrote {made} {kind}, kept {skipped} already done")
    return 0


def _synth_published(args: argparse.Namespace, layout: str) -> int:
    """``data synth --layout bdd100k|culane|mtsd``: one split of a dataset in a published layout."""
    if args.clip:
        raise ValueError(f"--clip writes the generated layout only; drop it or use --layout generated, not {layout}")
    from ..data.synth.published_run import generate_published, options_for

    split = args.split or "train"
    options = options_for(layout, args.seed, args.size)
    made, skipped = generate_published(
        args.out, args.n, options, split=split, workers=args.workers, progress=not args.quiet
    )
    print(f"{args.out}: {layout} {split} split: wrote {made} scenes, kept {skipped} already done")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from ..data.show import show

    written = show(
        args.path, args.out, n=args.n, names=args.names, every=args.every, layout=args.layout, role=args.split
    )
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
        "render labelled dash-cam scenes (own layout, or BDD100K / CULane / MTSD)",
        "Render labelled forward-facing dash-cam scenes: lanes (poly2d), vehicles and traffic signs "
        "(box2d), drivable-area masks, in the generator's BDD100K-style layout, or with --layout in the "
        "published layout of BDD100K (2020), CULane or MTSD, one --split at a time. Deterministic by "
        "seed; an interrupted run resumes where it stopped when run again with the same options.",
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
    synth.add_argument(
        "--size",
        type=wh_size,
        default=None,
        metavar="WxH",
        help="frame size (default 1280x720; 1640x590 for --layout culane)",
    )
    synth.add_argument(
        "--layout",
        choices=SYNTH_LAYOUTS,
        default="generated",
        help="generated: this generator's own folder layout (default); bdd100k (2020 release), culane, "
        "mtsd (Mapillary Traffic Sign Dataset v2): the published layouts and label files of those datasets",
    )
    synth.add_argument(
        "--split",
        choices=("train", "val"),
        default=None,
        help="for the published layouts: the split to write (default train); run again with the other "
        "split to add it to the same folder",
    )
    synth.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")

    show = _command(
        data_sub,
        "show",
        "draw labels over images to PNG files",
        "Draw drivable-area masks, lane polylines and labelled boxes over dataset images (or the "
        "frames of a generated clip) and write PNG files for a person to check. Labels are drawn as "
        "training reads them: lane rules and the category table applied, ignore regions dashed grey.",
    )
    show.add_argument(
        "path", type=existing_path, help="a dataset folder in any supported layout, or a clip .mp4 beside its .json"
    )
    show.add_argument("--out", type=output_dir, default=None, help="folder for the PNG files (default: PATH/show)")
    show.add_argument("--n", type=positive_int, default=8, help="how many images to draw")
    show.add_argument("--names", nargs="+", default=None, help="draw these image names instead of the first N")
    show.add_argument("--every", type=positive_int, default=30, help="for a clip: draw every K-th frame")
    add_layout_options(show, "draw")
    return synth, show
