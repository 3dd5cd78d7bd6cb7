"""``mtl-edge export`` / ``mtl_edge.export(...)``: checkpoint -> checked ONNX (fp32/fp16/int8) -> engine.

Every export ends by evaluating the written file through ONNX Runtime on validation
images, next to the FP32 graph, so the cost of a precision is known per head before
anyone touches a GPU.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from mtl_edge.data.splits import evenly
from mtl_edge.export.calibration import CALIBRATION_METHODS, DEFAULT_CALIBRATION_METHOD
from mtl_edge.export.check_report import int8_placement
from mtl_edge.export.compat import require_compatible
from mtl_edge.export.onnx import export_graph, file_sha256, finalize, model_metadata, save, simplify
from mtl_edge.export.precision import check_keep, quantize_int8, to_float16

PRECISIONS = ("fp32", "fp16", "int8")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")


@dataclass
class ExportReport:
    """What an export produced, and what it measured."""

    onnx: Path
    precision: str
    input_hw: tuple[int, int]
    batch: int | str
    outputs: list[str]
    simplifier: str
    nodes: int
    size_bytes: int
    seconds: float
    checks: list[str] = field(default_factory=list)
    keep: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # variant -> head -> metrics
    accuracy_table: str = ""
    val_images: int = 0
    engine: Any = None  # an EngineBuildReport when --engine was given
    placement: Any = None  # where INT8 runs on TensorRT (int8_placement.PlacementReport), for TensorRT INT8 graphs

    def summary(self) -> str:
        lines = [
            f"{self.onnx}: {self.precision}, input uint8 [{self.batch},{self.input_hw[0]},{self.input_hw[1]},3], "
            f"{len(self.outputs)} outputs, {self.nodes} nodes, {self.size_bytes / 1e6:.2f} MB, simplified with "
            f"{self.simplifier}, {self.seconds:.1f} s; checks: {', '.join(self.checks)}"
        ]
        if self.keep:
            lines.append("kept: " + ", ".join(f"{h}={p}" for h, p in self.keep.items()))
        if self.calibration:
            c = self.calibration
            lines.append(
                f"calibration: {c['images']} images from {c['source']}, {c['target']} target, {c['method']} ranges "
                f"{'reused from' if c['reused'] else 'cached in'} {c['cache']}; first conv {c['first_conv']}"
            )
        if self.placement is not None:
            lines.append(self.placement.summary())
        if self.accuracy_table:
            lines.append(f"accuracy through ONNX Runtime on {self.val_images} validation images:")
            lines.append(self.accuracy_table)
        if self.engine is not None:
            lines.append(self.engine.summary())
        return "\n".join(lines)


def parse_batch(value: int | str) -> int | str:
    """A positive batch size, or "dynamic" (a symbolic batch dimension, 1 to 64)."""
    if value == "dynamic":
        return "dynamic"
    try:
        batch = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"batch must be a positive whole number or 'dynamic', got {value!r}") from None
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return batch


def check_imgsz(imgsz: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in imgsz)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(
            f"--imgsz {h}x{w}: height and width must be positive multiples of 32 (the network's "
            f"largest stride); try {max(32, round(h / 32) * 32)}x{max(32, round(w / 32) * 32)}."
        )
    return h, w


def parse_keep(items: list[str] | dict[str, str] | None, precision: str, heads: list[str]) -> dict[str, str]:
    """``["signs=fp32", "lanes"]`` -> {"signs": "fp32", "lanes": "fp32"}, validated against the model."""
    if not items:
        return {}
    if precision == "fp32":
        raise ValueError("--keep applies to fp16 and int8 exports; an fp32 graph is already at full precision.")
    pairs = dict(items) if isinstance(items, dict) else dict((s.split("=", 1) + ["fp32"])[:2] for s in items)
    check_keep(list(pairs), heads)
    for head, p in pairs.items():
        allowed = ("fp32",) if precision == "fp16" else ("fp16", "fp32")
        if p not in allowed:
            raise ValueError(f"--keep {head}={p}: in a {precision} export a head can be kept at {'/'.join(allowed)}.")
    return pairs


def calibration_images(source: Path, n: int) -> list[Path]:
    """``n`` images spread evenly over a folder (searched recursively, sorted: deterministic)."""
    if not source.is_dir():
        raise ValueError(f"--calib {source}: no such folder. Point it at a folder of frames from your cameras.")
    found = [p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if n < 1:
        raise ValueError(f"--calib-images must be at least 1, got {n}")
    if not found:
        raise ValueError(
            f"--calib {source}: no images (.jpg/.png/.bmp/.ppm) in it. INT8 calibration needs a few hundred frames "
            "like the ones the model will see; point --calib at such a folder."
        )
    return evenly(found, n)


def _evaluate_file(path: Path, data: Any, n_images: int, threads: int | None = None) -> dict[str, dict[str, Any]]:
    from mtl_edge.backends.ort import OrtBackend
    from mtl_edge.evaluate import evaluate_outputs

    with OrtBackend(path, threads=threads) as backend:
        step = backend.batch if isinstance(backend.batch, int) else 8
        return evaluate_outputs(backend.infer, backend.heads, data, backend.input_hw, n_images, batch=step)


def export(
    checkpoint: str | Path,
    out: str | Path,
    precision: str = "fp32",
    imgsz: tuple[int, int] | None = None,
    batch: int | str = 1,
    calib: str | Path | None = None,
    calib_images: int = 200,
    keep: list[str] | dict[str, str] | None = None,
    int8_target: str = "tensorrt",
    calib_method: str = DEFAULT_CALIBRATION_METHOD,
    val: str | Path | None = None,
    val_images: int = 300,
    val_layout: str | None = None,
    engine: str | Path | None = None,
    workspace: float | None = None,
    timing_cache: str | Path | None = None,
    dla_core: int | None = None,
    cache_dir: str | Path | None = None,
) -> ExportReport:
    """Export a checkpoint to a checked ONNX file (and optionally a TensorRT engine); returns a report.

    ``val_images=0`` skips the accuracy check; ``val`` is a dataset folder in any supported
    layout (``val_layout``, None: detected), by default the recipe's validation split.
    ``int8_target="cpu"`` writes the graph ONNX Runtime runs fastest on x86 (uint8 activations with zero points), which
    TensorRT cannot build. ``calib_method`` is "minmax" (the extremes seen) or
    "percentile" (clip the top 0.001% of each activation's magnitudes).
    """
    from mtl_edge.config import recipe_from_dict
    from mtl_edge.models.loading import load_model

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and calib_method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {calib_method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")
    if engine is not None and precision == "int8" and int8_target == "cpu":
        raise ValueError("--engine needs the TensorRT INT8 graph: drop --int8-target cpu (that is for ONNX Runtime).")
    if engine is not None:
        from mtl_edge.backends.trt.build import check_dla_precision

        check_dla_precision(precision, dla_core)
    if val_images < 0:
        raise ValueError(f"--val-images must be 0 (skip the check) or more, got {val_images}")
    for flag, path in (("--out", out), ("--engine", engine)):
        if path is not None and Path(path).is_dir():
            raise ValueError(f"{flag} {path} is a folder; give a file path")
    if engine is not None and Path(engine).resolve() == Path(out).resolve():
        raise ValueError(f"--engine {engine} is the same file as --out; give the engine its own path")
    start = time.perf_counter()
    batch = parse_batch(batch)
    out = Path(out)
    net, ckpt = load_model(checkpoint)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{checkpoint} (recipe)")
    input_hw = check_imgsz(imgsz or tuple(recipe.data.imgsz))
    kept = parse_keep(keep, precision, list(net.heads))
    images = None
    val_sets = _validation_sets(val, val_layout, recipe) if val_images else []  # bad data fails before any work
    if precision == "int8":
        if calib is not None:
            source: Any = Path(calib)
            images = calibration_images(source, calib_images)
        else:
            source = "the recipe's training split"
            images = _calibration_default(recipe, calib_images)

    graph, tool = simplify(export_graph(net, input_hw, batch))
    base_meta = {"recipe": recipe.name, "classes": ckpt.get("classes", {})}
    ckpt_sha = file_sha256(checkpoint)
    fp32 = finalize(graph, model_metadata(net, input_hw, "fp32", ckpt_sha, batch, base_meta))
    calibration: dict[str, Any] = {}
    if precision == "fp32":
        model = fp32
    elif precision == "fp16":
        model = to_float16(fp32, keep=[h for h, p in kept.items() if p == "fp32"])
    else:
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        step = 1 if batch == "dynamic" else batch
        model, reused = quantize_int8(
            fp32, images, input_hw, step, cache, keep=list(kept), target=int8_target, method=calib_method
        )
        half_heads = [h for h, p in kept.items() if p == "fp16"]
        if half_heads:
            model = to_float16(model, only_heads=half_heads)
        calibration = {
            "images": len(images),
            "source": str(source),
            "target": int8_target,
            "method": calib_method,
            "first_conv": "float" if int8_target == "tensorrt" else "int8 with uint8 weights",
            "cache": str(cache),
            "reused": reused,
        }
    extra = {**base_meta, "keep": kept, **({"int8_target": int8_target} if precision == "int8" else {})}
    model = finalize(model, model_metadata(net, input_hw, precision, ckpt_sha, batch, extra))
    checks = ["onnx.checker full_check"]
    placement = None
    if precision == "int8" and int8_target == "cpu":
        checks.append("TensorRT: ONNX Runtime only, TensorRT rejects it (CPU INT8 graph, uint8 zero points)")
    else:
        require_compatible(model, dynamic_batch=batch == "dynamic")
        checks.append("TensorRT 10 and 11 parser rules (mtl-edge check)")
        placement = int8_placement(model)
    save(model, out)

    report = ExportReport(
        onnx=out,
        precision=precision,
        input_hw=input_hw,
        batch=batch,
        outputs=[o.name for o in model.graph.output],
        simplifier=tool,
        nodes=len(model.graph.node),
        size_bytes=out.stat().st_size,
        seconds=0.0,
        checks=checks,
        keep=kept,
        calibration=calibration,
        placement=placement,
    )
    if val_images:
        _measure_accuracy(report, fp32, val_sets, val_images)
    if engine is not None:
        from mtl_edge.backends.trt.build import build_engine

        report.engine = build_engine(
            out,
            engine,
            workspace_gb=workspace,
            timing_cache=timing_cache,
            dla_core=dla_core,
            model_metadata=model_metadata(net, input_hw, precision, ckpt_sha, batch, extra),
            rebuild_hint=f"mtl-edge export {checkpoint} --out {out} --precision {precision} --engine {engine}",
        )
    report.seconds = time.perf_counter() - start
    return report


def _calibration_default(recipe: Any, n: int) -> list[Path]:
    """``n`` images of the recipe's training split, every dataset of a mixture included."""
    from mtl_edge.data.splits import split_images

    found = [p for p in split_images(recipe.data.train, "train", n, progress=True) if p.is_file()]
    if not found:
        raise ValueError("the recipe's training split has no images here; give calibration frames with --calib DIR.")
    return found


def _validation_sets(val: str | Path | None, layout: str | None, recipe: Any) -> list[Any]:
    """The datasets the accuracy check scores: ``val`` in its layout, else the recipe's val split."""
    from mtl_edge.data.splits import open_folder, val_datasets

    if val is not None:
        return [open_folder(val, layout, "val", hint="--val-layout")]
    if recipe.data.val is None:
        return []
    return val_datasets(recipe.data.val, progress=True)


def default_cache_dir() -> Path:
    """Where calibration ranges are cached ($XDG_CACHE_HOME/mtl-edge/calibration)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtl-edge" / "calibration"


def _measure_accuracy(report: ExportReport, fp32: onnx.ModelProto, val_sets: list[Any], n: int) -> None:
    """Evaluate the written file (and the FP32 graph) through ONNX Runtime; fill the report's table.

    Each head is scored on the first validation dataset that labels it.
    """
    from mtl_edge.evaluate import compare_table

    if not val_sets:
        report.checks.append("accuracy not measured: the recipe has no validation split (give --val DIR)")
        return
    from mtl_edge.evaluate import scoring_datasets

    by_dataset: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # dataset -> variant -> head -> numbers
    with tempfile.TemporaryDirectory(prefix="mtl-edge-eval-") as tmp:
        files = {report.precision: report.onnx}
        if report.precision != "fp32":
            files = {"fp32": Path(tmp) / "fp32.onnx", **files}
            save(fp32, files["fp32"])
        for ds in val_sets:
            part = ds.first(min(n, len(ds)))
            labelled = part.labelled_heads()
            scores = _evaluate_files(files, part, n)
            by_dataset[ds.name] = {v: {h: m for h, m in heads.items() if h in labelled} for v, heads in scores.items()}
    # Each head from the dataset that scores it at FP32, for every variant alike.
    source = scoring_datasets({name: variants["fp32"] for name, variants in by_dataset.items()})
    results = {variant: {h: by_dataset[name][variant][h] for h, name in source.items()} for variant in files}
    report.accuracy = results
    report.val_images = sum(min(n, len(ds)) for ds in val_sets)
    report.accuracy_table = compare_table(results)


def _evaluate_files(files: dict[str, Path], data: Any, n: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Evaluate several graphs; two at once in two processes when the machine has the cores.

    Most of an evaluation is single-threaded Python (decoding, letterboxing, matching), so
    two evaluations side by side, one ONNX Runtime thread each, take little more than one.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if len(files) < 2 or (os.cpu_count() or 1) < 2 or n < 50:
        return {name: _evaluate_file(path, data, n) for name, path in files.items()}
    with ProcessPoolExecutor(len(files), mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {name: pool.submit(_evaluate_file, path, data, n, 1) for name, path in files.items()}
        return {name: job.result() for name, job in jobs.items()}
