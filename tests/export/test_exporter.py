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
    assert "TensorRT 10 and 11 parser rules (mtl-edge check)" in report.checks and report.outputs[0] == "lanes.x"


def test_dynamic_batch_runs_any_batch_like_the_static_graph(tiny_run, tmp_path):
    import numpy as np

    from mtl_edge.backends.ort import OrtBackend

    report = export(tiny_run / "best.pt", tmp_path / "d.onnx", imgsz=(128, 224), batch="dynamic", val_images=0)
    export(tiny_run / "best.pt", tmp_path / "s.onnx", imgsz=(128, 224), val_images=0)
    assert report.batch == "dynamic" and read_metadata(tmp_path / "d.onnx")["input"]["batch"] == "dynamic"
    images = np.random.default_rng(0).integers(0, 255, (3, 128, 224, 3), dtype=np.uint8)
    with OrtBackend(tmp_path / "d.onnx") as dyn, OrtBackend(tmp_path / "s.onnx") as static:
        a, b = dyn.infer(images), static.infer(images)  # one call of 3 vs three calls of 1
    assert a["vehicles.boxes"].shape[0] == 3
    for name in a:
        assert np.allclose(a[name], b[name], atol=1e-4), name


def test_bad_inputs_fail_clearly_and_leave_nothing(tiny_run, tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="multiples of 32.*try 128x224"):
        export(tiny_run / "best.pt", out, imgsz=(130, 224))
    broken = tmp_path / "broken.pt"
    broken.write_bytes((tiny_run / "best.pt").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        export(broken, out)
    empty = tmp_path / "no-images"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        export(tiny_run / "best.pt", out, precision="int8", calib=empty)
    with pytest.raises(ValueError, match="no such head in this model; its heads are lanes"):
        export(tiny_run / "best.pt", out, precision="fp16", keep=["wheels"])
    with pytest.raises(ValueError, match="--keep applies to fp16 and int8"):
        export(tiny_run / "best.pt", out, keep=["signs"])
    assert sorted(tmp_path.iterdir()) == sorted([broken, empty])  # no partial .onnx


def test_checkpoint_from_another_version_is_refused(tiny_run, tmp_path):
    import torch

    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    ckpt["format_version"] = 99
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    with pytest.raises(CheckpointError, match="99"):
        export(other, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_int8_export_measures_every_head_against_fp32(tiny_run, tiny_data, tmp_path, monkeypatch):
    import mtl_edge

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "m.int8.onnx"
    report = mtl_edge.export(
        tiny_run / "best.pt", out, precision="int8", calib=tiny_data[0], calib_images=4, keep=["lanes=fp16"]
    )
    assert read_metadata(out)["precision"] == "int8" and read_metadata(out)["keep"] == {"lanes": "fp16"}
    assert set(report.accuracy) == {"fp32", "int8"} and report.val_images == 6
    assert set(report.accuracy["int8"]) == {"lanes", "vehicles", "signs", "drivable"}
    assert "int8 change (pts)" in report.accuracy_table and "mAP50" in report.accuracy_table
    assert report.calibration["images"] == 4 and not report.calibration["reused"]
    assert report.calibration["method"] == "minmax" and "minmax ranges" in report.summary()
    assert list((tmp_path / "cache").rglob("ranges-*.json"))


def test_each_graph_runs_at_its_fastest_optimisation_level(tiny_run, tiny_data, tmp_path, monkeypatch):
    from mtl_edge.backends.ort import optimization_level

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    common = {"imgsz": (128, 224), "calib": tiny_data[0], "calib_images": 2, "val_images": 0}
    export(tiny_run / "best.pt", tmp_path / "t.onnx", precision="int8", **common)
    export(tiny_run / "best.pt", tmp_path / "c.onnx", precision="int8", int8_target="cpu", **common)
    assert optimization_level(read_metadata(tmp_path / "t.onnx")) == "extended"
    assert optimization_level(read_metadata(tmp_path / "c.onnx")) == "all"
    with pytest.raises(ValueError, match="calibration method 'entropy'"):
        export(tiny_run / "best.pt", tmp_path / "x.onnx", precision="int8", calib_method="entropy", **common)


def test_cli_export(tiny_run, tmp_path, capsys):
    args = ["export", str(tiny_run / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--imgsz", "128x224"]
    assert main([*args, "--precision", "fp16", "--val-images", "3"]) == 0
    out = capsys.readouterr().out
    assert "simplified with onnx" in out and "fp16 change (pts)" in out and "on 3 validation images" in out


def test_cli_int8_cpu_graph_with_percentile_ranges(tiny_run, tiny_data, tmp_path, capsys):
    args = ["export", str(tiny_run / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--imgsz", "128x224"]
    args += ["--precision", "int8", "--int8-target", "cpu", "--calib-method", "percentile"]
    args += ["--calib", str(tiny_data[0])]
    assert main([*args, "--calib-images", "2", "--val-images", "0"]) == 0
    assert "cpu target, percentile ranges" in capsys.readouterr().out


def test_cli_calibration_default_is_the_exporters():
    from mtl_edge.cli import build_parser
    from mtl_edge.export.calibration import DEFAULT_CALIBRATION_METHOD

    args = build_parser().parse_args(["export", "x.pt", "--out", "x.onnx"])
    assert args.calib_method == DEFAULT_CALIBRATION_METHOD


def test_cli_engine_without_tensorrt_says_so(tiny_run, tmp_path, capsys):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here; the build itself is tested in tests/backends/trt/test_build.py")
    except ImportError:
        pass
    args = ["export", str(tiny_run / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--val-images", "0"]
    assert main([*args, "--engine", str(tmp_path / "m.engine")]) == 2
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert (tmp_path / "m.onnx").exists() and not (tmp_path / "m.engine").exists()
