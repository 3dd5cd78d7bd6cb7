"""The one table of backends: file types, ``--backend`` choices, and the base every backend runs on."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.backends import (
    BACKENDS,
    Backend,
    ModelFileError,
    backend_choices,
    backend_class,
    backend_for,
    open_backend,
)
from mtl_edge.cli import build_parser


def test_suffixes_pick_their_backend():
    assert backend_for("m.onnx") == "ort" and backend_for("M.ENGINE") == "trt" and backend_for("m.plan") == "trt"
    assert backend_for("best.pt") == backend_for("best.pth") == "torch"
    with pytest.raises(ModelFileError, match="unknown model type.*--backend"):
        backend_for("model.tflite")


def test_every_backend_in_the_table_is_a_backend_with_its_name():
    for entry in BACKENDS:
        cls = backend_class(entry.name)
        assert issubclass(cls, Backend) and cls.name == entry.name
    with pytest.raises(ValueError, match="choose auto, ort, trt, torch"):
        backend_class("tflite")


def test_cli_backend_choices_come_from_the_table():
    assert backend_choices() == ["auto", "ort", "trt", "torch"]
    parser = build_parser()
    assert parser.parse_args(["run", "m.onnx", "--source", "0", "--backend", "trt"]).backend == "trt"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "m.onnx", "--source", "0", "--backend", "tflite"])


def test_open_backend_refuses_a_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        open_backend(tmp_path / "missing.onnx")


def test_the_base_says_what_a_backend_lacks(tmp_path):
    class Bare(Backend):
        name = "bare"

    with Bare(tmp_path / "m.bin") as backend:
        with pytest.raises(NotImplementedError, match="infer"):
            backend.infer(np.zeros((1, 4, 4, 3), np.uint8))
        with pytest.raises(NotImplementedError, match="bare backend has no per-head profiler"):
            backend.profile(np.zeros((4, 4, 3), np.uint8))


def test_ort_backend_profiles_each_head(tiny_onnx):
    with open_backend(tiny_onnx, threads=1) as backend:
        image = np.random.default_rng(0).integers(0, 256, (180, 320, 3), dtype=np.uint8)
        prof = backend.profile(image, frames=3, warmup=1)
    assert prof.backend == "ort" and prof.frames == 3 and len(prof.call_ms) == 3
    assert {"trunk", "lanes", "vehicles"} <= set(prof.parts) and set(prof.host) == {"letterbox", "postprocess"}
