"""``mtl-edge doctor``: one acceptance run on the machine that will deploy the model.

It checks the environment (TensorRT, CUDA, cuda-python, GPU, compute capability, DLA
cores), exports the checkpoint at fp32, fp16 and int8 (TensorRT flavour) and runs the
static TensorRT parser-rules check on each. Where TensorRT and a GPU are present it then
builds every engine with a shared timing cache, runs each against ONNX Runtime on the
same generated frames (per-head maximum deviation, judged against a tolerance per
precision by ``compare_heads``), profiles it per head and reads the engine inspector's
per-layer precisions. Where they are missing it stops after the
ONNX-only steps and the report says what it could not do and why. Everything lands in
one JSON report, ``<out_dir>/doctor.json``, written atomically.

The modules: :mod:`~mtl_edge.doctor.run` (the run and its report),
:mod:`~mtl_edge.doctor.env` (the environment probe), :mod:`~mtl_edge.doctor.onnx_steps`
(export and parser-rules check), :mod:`~mtl_edge.doctor.engine` (build, compare, profile
and inspect one engine) and :mod:`~mtl_edge.doctor.compare` (engine vs ONNX Runtime outputs).
"""

from __future__ import annotations

from mtl_edge.doctor.common import Progress
from mtl_edge.doctor.compare import (
    COMPARE_FRAMES,
    DETECTION_SCORE,
    PARITY_TOLERANCE,
    SCORE_MARGIN,
    compare_frames,
    compare_heads,
    output_deviation,
)
from mtl_edge.doctor.env import cuda_mismatch, environment, tensorrt_ready
from mtl_edge.doctor.onnx_steps import check_onnx, export_and_check, finding_dict, generated_frames, int8_placement
from mtl_edge.doctor.run import CALIB_FRAMES, PRECISIONS, REPORT_NAME, REPORT_SCHEMA, TRT_STEPS, run_doctor

__all__ = [
    "run_doctor",
    "environment",
    "cuda_mismatch",
    "compare_heads",
    "tensorrt_ready",
    "output_deviation",
    "check_onnx",
    "finding_dict",
    "compare_frames",
    "export_and_check",
    "generated_frames",
    "int8_placement",
    "Progress",
    "PRECISIONS",
    "TRT_STEPS",
    "CALIB_FRAMES",
    "COMPARE_FRAMES",
    "REPORT_NAME",
    "REPORT_SCHEMA",
    "PARITY_TOLERANCE",
    "DETECTION_SCORE",
    "SCORE_MARGIN",
]
