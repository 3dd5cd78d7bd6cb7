"""``mtl-edge train`` and ``mtl-edge eval``: train a network from a recipe, measure a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import _command, add_layout_options, output_dir, output_file, positive_int, unit_float


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import load_recipe
    from ..train import train

    recipe = load_recipe(args.recipe, check_paths=True)
    best = train(recipe, args.out, resume=args.resume, progress=not args.quiet, post_fit_from=args.post_fit_from)
    print(f"best checkpoint: {best}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from ..config import recipe_from_dict
    from ..data.splits import open_folder, val_datasets
    from ..evaluate import evaluate, print_summary
    from ..fileio import atomic_write
    from ..models.loading import load_model

    # The data is opened before the model is built: a bad folder fails first, naming the fix.
    folder = open_folder(args.data, args.layout, args.split) if args.data is not None else None
    net, ckpt = load_model(args.checkpoint)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{args.checkpoint} (recipe)")
    if folder is not None:
        datasets = [folder]
    elif recipe.data.val is not None:
        datasets = val_datasets(recipe.data.val, progress=True)
    else:
        raise ValueError(
            f"{args.checkpoint}: its recipe has no validation split; give a dataset folder with --data DIR."
        )
    results: dict[str, Any] = {}
    for ds in datasets:
        scores = evaluate(
            net,
            ds,
            tuple(recipe.data.imgsz),
            n_images=args.n,
            score_threshold=args.score_threshold,
            progress=True,
            protocol=args.protocol,
        )
        count = len(ds) if args.n is None else min(args.n, len(ds))
        if len(datasets) > 1:
            print(f"{ds.name} ({count} images):")
        labelled = ds.labelled_heads(count)
        scores = {k: m for k, m in scores.items() if k in labelled or k == args.protocol}
        print(print_summary(scores))
        results[ds.name] = scores
    if args.json:
        payload = results if len(results) > 1 else next(iter(results.values()))
        atomic_write(args.json, lambda f: json.dump(payload, f, indent=2, default=float), text=True)
    return 0


def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The train command's parser."""
    tr = _command(
        sub,
        "train",
        "train a network from a recipe",
        "Train a multi-task network from a YAML recipe (see recipes/). Generated data named by the recipe "
        "are created on first use. Writes DIR/last.pt every epoch and DIR/best.pt when the mean of the "
        "heads' headline metrics improves. Launch with torchrun for several processes (DDP).",
    )
    tr.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/synth-edge.yaml")
    tr.add_argument("--out", type=output_dir, required=True, help="run folder for checkpoints")
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
    return tr


def add_eval_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The eval command's parser."""
    ev = _command(
        sub,
        "eval",
        "per-task metrics of a checkpoint",
        "Evaluate a checkpoint in source-image pixels: lanes F1 (CULane rule) and TuSimple accuracy, "
        "vehicles and signs mAP@0.5 and @0.5:0.95 with AP per class, drivable mIoU.",
    )
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a dataset folder in any supported layout (default: the recipe's validation split, each of its datasets)",
    )
    add_layout_options(ev, "score")
    ev.add_argument(
        "--protocol",
        choices=("bdd100k-yolop",),
        default=None,
        help="also print a peer-comparable protocol: bdd100k-yolop = one merged vehicle class (recall, mAP@0.5), "
        "drivable mIoU, lane pixel accuracy and IoU, computed as YOLOP/HybridNets report them (docs/data.md)",
    )
    ev.add_argument("--n", type=positive_int, default=None, help="evaluate only the first N images")
    ev.add_argument("--score-threshold", type=unit_float, default=0.3, help="deploy threshold for precision/recall")
    ev.add_argument("--json", type=output_file, default=None, help="also write every number to this JSON file")
    return ev
