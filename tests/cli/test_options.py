"""Every subcommand (but ``run``) refuses a bad option with exit 2 before any work, creating nothing."""

from __future__ import annotations

import pytest

from mtl_edge import cli
from mtl_edge.cli import main


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    return err


@pytest.fixture(autouse=True)
def _no_work(monkeypatch):
    """Any command that gets past parsing fails the test: the checks must come first."""

    def work(args):
        raise AssertionError(f"{args.command} ran despite a bad option")

    for name in ("cmd_data_synth", "cmd_data_show", "cmd_train", "cmd_eval", "cmd_export", "cmd_doctor"):
        monkeypatch.setattr(cli, name, work)
    for name in ("cmd_info", "cmd_profile"):
        monkeypatch.setattr(cli, name, work)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "m.pt", "--imgsz", "100x100"], "multiples of 32"),
        (["profile", "m.onnx", "--frames", "0"], "at least 1"),
        (["profile", "m.onnx", "--threads", "-2"], "at least 1"),
        (["profile", "m.pt", "--compare", "fp32,fp64"], "fp32, fp16, int8"),
        (["profile", "m.pt", "--val-images=-1"], "at least 0"),
        (["eval", "m.pt", "--score-threshold", "5"], "at most 1"),
        (["eval", "m.pt", "--score-threshold", "nan"], "at most 1"),
        (["eval", "m.pt", "--n", "0"], "at least 1"),
        (["export", "m.pt", "--out", "m.onnx", "--val-images=-1"], "at least 0"),
        (["export", "m.pt", "--out", "m.onnx", "--calib-images", "0"], "at least 1"),
        (["export", "m.pt", "--out", "m.onnx", "--batch", "0"], "1 to 64"),
        (["export", "m.pt", "--out", "m.onnx", "--workspace", "-1"], "above 0"),
        (["export", "m.pt", "--out", "m.onnx", "--dla-core", "-1"], "at least 0"),
        (["export", "m.pt", "--out", "m.onnx", "--imgsz", "100x100"], "multiples of 32"),
        (["data", "synth", "--out", "ds", "--n", "0"], "at least 1"),
        (["data", "synth", "--out", "ds", "--n", "1", "--seed", "-1"], "at least 0"),
        (["data", "synth", "--out", "ds", "--n", "1", "--fps", "0"], "above 0"),
        (["data", "synth", "--out", "ds", "--n", "1", "--workers", "0"], "at least 1"),
        (["data", "show", ".", "--every", "0"], "at least 1"),
    ],
)
def test_bad_values_exit_2_with_what_is_allowed(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in _refused(argv, capsys)
    assert list(tmp_path.iterdir()) == [], "nothing may be created"


def test_synth_refuses_a_size_too_large_for_memory_and_creates_nothing(tmp_path, capsys):
    err = _refused(["data", "synth", "--out", str(tmp_path / "ds"), "--n", "1", "--size", "100000x100000"], capsys)
    assert "too large for memory" in err and "at most 8192" in err
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("flag", ["--out", "--engine", "--timing-cache"])
def test_export_refuses_a_folder_as_an_output_file_up_front(flag, tmp_path, capsys):
    argv = ["export", "m.pt", "--out", str(tmp_path / "m.onnx"), flag, str(tmp_path)]
    assert "is a folder; give a file path" in _refused(argv, capsys)


def test_output_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for argv in (
        ["export", "m.pt", "--out", str(tmp_path / "f" / "m.onnx")],
        ["eval", "m.pt", "--json", str(tmp_path / "f" / "r.json")],
        ["profile", "m.onnx", "--json", str(tmp_path / "f" / "r.json")],
        ["profile", "m.onnx", "--plot", str(tmp_path / "f" / "p.png")],
    ):
        assert "is a file, not a folder" in _refused(argv, capsys)
    for argv in (
        ["data", "synth", "--out", str(tmp_path / "f"), "--n", "1"],
        ["data", "show", str(tmp_path), "--out", str(tmp_path / "f")],
        ["train", "r.yaml", "--out", str(tmp_path / "f")],
        ["doctor", "--out", str(tmp_path / "f")],
        ["profile", "m.pt", "--compare", "fp32", "--out", str(tmp_path / "f")],
    ):
        assert "is a file; give a folder path" in _refused(argv, capsys)


def test_show_of_a_missing_path_is_refused(tmp_path, capsys):
    assert "no such file or folder" in _refused(["data", "show", str(tmp_path / "nope")], capsys)


def test_export_checks_the_validation_folder_before_exporting(tmp_path, capsys, monkeypatch):
    import mtl_edge.export.exporter as exporter

    monkeypatch.setattr(exporter, "export", lambda *a, **k: pytest.fail("exported despite a bad --val"))
    monkeypatch.setattr(cli, "cmd_export", cli.export.cmd_export)
    argv = ["export", "m.pt", "--out", str(tmp_path / "m.onnx"), "--val", str(tmp_path)]
    assert main(argv) == 2
    assert "not a dataset folder" in capsys.readouterr().err
