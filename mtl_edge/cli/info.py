"""``mtl-edge profile`` and ``mtl-edge info``: what a model costs per head, and what a checkpoint holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..backends import backend_choices
from .args import _command, hw_size, non_negative_int, output_dir, output_file, positive_int, precision_list


def cmd_profile(args: argparse.Namespace) -> int:
    import json

    from ..fileio import atomic_write
    from ..profile import compare, plot, profile_model, table

    if args.compare:
        if len(args.model) != 1:
            raise ValueError("--compare takes one checkpoint")
        args.out.mkdir(parents=True, exist_ok=True)
        profiles = compare(args.model[0], args.compare, args.out, args.frames, args.val_images)
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
    from ..info import describe

    print(describe(args.checkpoint, args.imgsz))
    return 0


def add_profile_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The profile command's parser."""
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
    pr.add_argument("--frames", type=positive_int, default=50, help="timed calls after warm-up")
    pr.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime threads (default: all cores)")
    pr.add_argument(
        "--compare",
        type=precision_list,
        default=None,
        metavar="fp32,fp16,int8",
        help="precisions to export and compare",
    )
    pr.add_argument("--val-images", type=non_negative_int, default=100, help="--compare: images for the metric change")
    pr.add_argument("--out", type=output_dir, default=Path("runs/profile"), help="--compare: where the graphs go")
    pr.add_argument("--json", type=output_file, default=None, help="write every number to this JSON file")
    pr.add_argument("--plot", type=output_file, default=None, help="write a stacked bar chart PNG")
    return pr


def add_info_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The info command's parser."""
    info = _command(
        sub,
        "info",
        "size, cost, heads and classes of a checkpoint",
        "Print a checkpoint's parameters, GFLOPs (deploy form), heads, classes and recorded metrics.",
    )
    info.add_argument("checkpoint", type=Path)
    info.add_argument("--imgsz", type=hw_size, default=None, metavar="HxW", help="input size (default: the recipe's)")
    return info
