"""``run_doctor``: the ONNX-only steps for real on the shipped checkpoint, and a clean stop without TensorRT.

Where TensorRT and a GPU exist the same run goes on to build, compare, profile and
inspect every engine; that run is tested there and skips here with the reason.
"""

from __future__ import annotations

import json

import pytest

from mtl_edge.assets import SHIPPED_CHECKPOINT
from mtl_edge.doctor import PRECISIONS, TRT_STEPS, run_doctor
from tests.trt_marks import HAVE_TRT, NO_TRT


@pytest.fixture(scope="module")
def onnx_only_run(tmp_path_factory):
    """One doctor run on the shipped checkpoint (8 generated calibration frames); (report, progress lines, out)."""
    if HAVE_TRT:
        pytest.skip("TensorRT is installed here; the ONNX-only stop is what this module checks")
    out = tmp_path_factory.mktemp("doctor")
    lines: list[str] = []
    report = run_doctor(SHIPPED_CHECKPOINT, out, progress=lines.append, calib_images=8)
    return report, lines, out


def test_report_is_written_and_returned(onnx_only_run):
    report, lines, out = onnx_only_run
    assert json.loads((out / "doctor.json").read_text()) == json.loads(json.dumps(report, default=str))
    assert "aborted" not in report, report.get("aborted")
    assert report["checkpoint"] == str(SHIPPED_CHECKPOINT) and report["trt_rules_major"] == 10
    assert lines[0] == "checking the environment" and lines[-1].startswith(f"report: {out / 'doctor.json'}")


def test_environment_says_what_is_missing_and_why(onnx_only_run):
    env = onnx_only_run[0]["environment"]
    assert env["onnxruntime"]["status"] == "ok" and env["python"]["status"] == "ok"
    assert env["tensorrt"]["status"] == "missing" and "TensorRT is not installed" in env["tensorrt"]["reason"]
    assert "JetPack" in env["tensorrt"]["reason"]
    assert env["dla_cores"]["status"] == "missing" and "needs TensorRT" in env["dla_cores"]["reason"]
    for key in ("cuda_python", "gpu", "compute_capability"):
        assert env[key]["status"] in ("ok", "missing") and (env[key]["status"] == "ok" or env[key]["reason"])


def test_every_precision_is_exported_and_checked_for_real(onnx_only_run):
    from mtl_edge.export.onnx import read_metadata

    report, _, out = onnx_only_run
    assert set(report["exports"]) == set(PRECISIONS)
    for precision, entry in report["exports"].items():
        assert entry["status"] == "ok", (precision, entry.get("error"), entry.get("findings"))
        assert read_metadata(entry["onnx"])["precision"] == precision
        assert isinstance(entry["findings"], list) and not [f for f in entry["findings"] if f["severity"] == "error"]
        assert entry["nodes"] > 0 and entry["size_bytes"] > 0
    int8 = report["exports"]["int8"]
    assert int8["calibration"]["images"] == 8 and int8["calibration"]["target"] == "tensorrt"
    assert int8["int8_placement"]["status"] in ("ok", "skipped")
    assert (out / "calib-frames" / "images").is_dir()


def test_it_stops_after_the_onnx_steps_and_says_what_it_skipped(onnx_only_run):
    report, lines, _ = onnx_only_run
    assert "engines" not in report and report["tensorrt_steps"].startswith("skipped: tensorrt: TensorRT is not")
    assert [s["step"] for s in report["skipped"]] == list(TRT_STEPS)
    assert all("TensorRT is not installed" in s["reason"] for s in report["skipped"])
    stop = next(line for line in lines if line.startswith("stopped after the ONNX-only steps"))
    assert "build engines with a timing cache" in stop and "TensorRT is not installed" in stop
    assert report["ok"] is True  # nothing that ran failed; the skipped steps are listed, not failed
    assert lines[-1].endswith("(the ONNX-only checks passed; the TensorRT steps were skipped)")


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--trt 12.*10 or 11"):
        run_doctor(SHIPPED_CHECKPOINT, tmp_path / "out", trt_major=12)
    with pytest.raises(FileNotFoundError, match="leave it out to use the shipped one"):
        run_doctor(tmp_path / "missing.pt", tmp_path / "out")
    with pytest.raises(ValueError, match="--calib"):
        run_doctor(SHIPPED_CHECKPOINT, tmp_path / "out", calib=tmp_path / "no-frames")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not HAVE_TRT, reason=NO_TRT)
def test_full_run_with_tensorrt(tmp_path):
    report = run_doctor(SHIPPED_CHECKPOINT, tmp_path, progress=lambda _: None, calib_images=8)
    assert report["tensorrt_steps"] == "ran" and set(report["engines"]) == set(PRECISIONS)
    for precision, engine in report["engines"].items():
        for step in ("build", "vs_onnxruntime", "profile", "layers"):
            assert engine[step]["status"] == "ok", (precision, step, engine[step])
        assert set(engine["vs_onnxruntime"]["heads_max_abs"]) == {"lanes", "vehicles", "signs", "drivable"}
    assert report["engines"]["int8"]["layers"]["int8_layers"] > 0
    assert (tmp_path / "timing.cache").stat().st_size > 0 and report["ok"]
