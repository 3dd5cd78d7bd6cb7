"""Exports of the shipped checkpoint, shared by the tests that judge real graphs (not hand-made ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl_edge.assets import SHIPPED_CHECKPOINT

#: name -> export options; "tensorrt" graphs must pass the TensorRT parser rules.
SHIPPED_EXPORTS = {
    "fp32": {},
    "fp16": {"precision": "fp16"},
    "int8": {"precision": "int8"},
    "int8-cpu": {"precision": "int8", "int8_target": "cpu"},
    "fp32-dynamic": {"batch": "dynamic"},
    "int8-dynamic": {"precision": "int8", "batch": "dynamic"},
}


@pytest.fixture(scope="session")
def shipped_frames(tmp_path_factory) -> Path:
    """A few generated 640x384 scenes: calibration frames and parity inputs."""
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = tmp_path_factory.mktemp("shipped-frames")
    generate(root, 4, SynthOptions(seed=4242, width=640, height=384), workers=1, progress=False)
    return root / "images"


def export_shipped(out: Path, frames: Path, **options) -> Path:
    """Export the shipped checkpoint with ``options`` (no accuracy check; calibrated on ``frames``)."""
    from mtl_edge.export.exporter import export

    calib = {"calib": frames, "calib_images": 4, "cache_dir": out.parent / "cache"}
    export(SHIPPED_CHECKPOINT, out, val_images=0, **(calib if options.get("precision") == "int8" else {}), **options)
    return out


@pytest.fixture(scope="session")
def shipped_exports(tmp_path_factory, shipped_frames) -> dict[str, Path]:
    """The shipped checkpoint exported every way a user can (see SHIPPED_EXPORTS)."""
    root = tmp_path_factory.mktemp("shipped-exports")
    return {
        name: export_shipped(root / f"{name}.onnx", shipped_frames, **opts) for name, opts in SHIPPED_EXPORTS.items()
    }
