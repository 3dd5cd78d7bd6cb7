"""``mtl-edge export``, ``check`` and ``doctor``: checkpoint to ONNX (and engine), TensorRT's rules, acceptance."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..assets import SHIPPED_CHECKPOINT
from .args import (
    LAYOUT_NAMES,
    _command,
    batch_size,
    hw_size,
    non_negative_int,
    output_dir,
    output_file,
    positive_float,
    positive_int,
)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export.exporter import export

    if args.val is not None and args.val_images:  # before the export, not after it
        from ..data.layouts import detect_layout, get_layout

        get_layout(args.val_layout) if args.val_layout else detect_layout(args.val, hint="--val-layout")
    options = ("precision", "imgsz", "batch", "calib", "calib_images", "calib_method", "keep", "int8_target")
    options += ("val", "val_images", "val_layout")
    options += ("engine", "workspace", "timing_cache", "dla_core")
    report = export(args.checkpoint, args.out, **{name: getattr(args, name) for name in options})
    print(report.summary())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ..export.check_report import check_file

    report = check_file(args.model, target=args.target, trt_major=args.trt, dynamic_batch=args.dynamic_batch or None)
    print(report.to_json() if args.json else report.summary())
    return 0 if report.ok else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import run_doctor

    report = run_doctor(args.checkpoint, args.out, calib=args.calib, trt_major=args.trt)
    return 0 if report["ok"] else 1


def add_export_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The export command's parser."""
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
    ex.add_argument("--out", type=output_file, required=True, help="the .onnx file to write (atomically)")
    ex.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32", help="graph precision")
    ex.add_argument("--imgsz", type=hw_size, default=None, metavar="HxW", help="input size (default: the recipe's)")
    ex.add_argument("--batch", type=batch_size, default=1, help="batch size of the graph, or 'dynamic' (1 to 64)")
    ex.add_argument("--calib", type=Path, default=None, help="int8: folder of calibration frames (default: recipe's)")
    ex.add_argument(
        "--calib-images", type=positive_int, default=200, metavar="N", help="int8: frames used to calibrate"
    )
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
        "--val",
        type=Path,
        default=None,
        help="a labelled dataset folder in any supported layout for the accuracy check "
        "(default: the recipe's val split)",
    )
    ex.add_argument(
        "--val-images", type=non_negative_int, default=300, metavar="N", help="images for the accuracy check; 0 skips"
    )
    ex.add_argument(
        "--val-layout",
        default=None,
        help=f"--val's layout: {LAYOUT_NAMES}; None: detected from its files",
    )
    ex.add_argument(
        "--engine", type=output_file, default=None, help="also build this TensorRT engine from the ONNX file"
    )
    ex.add_argument("--workspace", type=positive_float, default=None, metavar="GB", help="TensorRT workspace limit")
    ex.add_argument(
        "--timing-cache", type=output_file, default=None, help="TensorRT timing cache file (read and updated)"
    )
    ex.add_argument(
        "--dla-core", type=non_negative_int, default=None, metavar="N", help="build for this DLA core, GPU fallback on"
    )
    return ex


def add_check_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The check command's parser."""
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
    return ck


def add_doctor_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The doctor command's parser."""
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
    dr.add_argument(
        "--out", type=output_dir, default=Path("doctor"), help="folder for the exports, engines and doctor.json"
    )
    dr.add_argument(
        "--calib", type=Path, default=None, metavar="DIR", help="int8 calibration frames (default: 32 generated)"
    )
    dr.add_argument(
        "--trt", type=int, choices=[10, 11], default=None, help="TensorRT rules (default: the installed major, else 10)"
    )
    return dr
