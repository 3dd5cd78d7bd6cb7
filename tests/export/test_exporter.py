"""The export command: a checked ONNX file from a checkpoint, and clear errors for bad input."""

from __future__ import annotations

import pytest

from mtl_edge.checkpoint import CheckpointError
from mtl_edge.cli import main
from mtl_edge.export.exporter import export
from mtl_edge.export.onnx import read_metadata


def test_export_writes_a_checked_file_with_metadata(tiny_run, tmp_path):
    out = tmp_path / "m.onnx"
    report = export(tiny_run / "best.pt", out, imgsz=(128, 224))
    assert out.exists() and report.size_bytes == out.stat().st_size
    meta = read_metadata(out)
    assert meta["precision"] == "fp32" and len(meta["checkpoint_sha256"]) == 64
    assert "TensorRT 10/11 compatibility" in report.checks and report.outputs[0] == "lanes.x"


def test_dynamic_batch_is_refused_until_supported(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="--batch dynamic is not available yet"):
        export(tiny_run / "best.pt", tmp_path / "d.onnx", imgsz=(128, 224), batch="dynamic")
    assert not (tmp_path / "d.onnx").exists()


def test_bad_inputs_fail_clearly_and_leave_nothing(tiny_run, tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="multiples of 32.*try 128x224"):
        export(tiny_run / "best.pt", out, imgsz=(130, 224))
    broken = tmp_path / "broken.pt"
    broken.write_bytes((tiny_run / "best.pt").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        export(broken, out)
    with pytest.raises(ValueError, match="FP32 only"):
        export(tiny_run / "best.pt", out, precision="int8")
    assert list(tmp_path.iterdir()) == [broken]  # no partial .onnx


def test_cli_export(tiny_run, tmp_path, capsys):
    assert main(["export", str(tiny_run / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--imgsz", "128x224"]) == 0
    assert "simplified with onnx" in capsys.readouterr().out
