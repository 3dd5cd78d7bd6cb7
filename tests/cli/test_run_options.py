"""``mtl-edge run`` refuses a bad option with exit 2 and a message before any work, creating nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mtl_edge import cli
from mtl_edge.cli import main


@pytest.fixture(autouse=True)
def _no_work(monkeypatch):
    """A run that gets past parsing fails the test: the checks must come first."""

    def work(args):
        raise AssertionError("run started despite a bad option")

    monkeypatch.setattr(cli, "cmd_run", work)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--max-frames", "-1", "a whole number of at least 1, got -1"),
        ("--max-frames", "0", "a whole number of at least 1, got 0"),
        ("--max-frames", "ten", "a whole number of at least 1, got 'ten'"),
        ("--score-threshold", "5", "at most 1, got 5"),
        ("--score-threshold", "-0.1", "at most 1, got -0.1"),
        ("--score-threshold", "nan", "got 'nan'"),
        ("--threads", "0", "a whole number of at least 1, got 0"),
        ("--threads", "-4", "a whole number of at least 1, got -4"),
        ("--read-timeout", "0", "a number above 0, got 0"),
        ("--read-timeout", "inf", "got 'inf'"),
        ("--give-up-after", "-1", "a number of at least 0, got -1"),
        ("--give-up-after", "nan", "got 'nan'"),
        ("--segment", "0", "seconds above 0"),
    ],
)
def test_bad_values_exit_2_with_what_is_allowed(option, value, message, capsys, tmp_path):
    out = tmp_path / "out.jsonl"
    argv = ["run", str(tmp_path / "m.onnx"), "--source", str(tmp_path), "--sink", str(out), f"{option}={value}"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and option in err and message in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_good_values_reach_the_command(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(cli, "cmd_run", lambda args: seen.update(vars(args)) or 0)
    argv = ["run", "m.onnx", "--source", "0", "--max-frames", "1", "--score-threshold", "0", "--threads", "2"]
    assert main([*argv, "--read-timeout", "0.5", "--give-up-after", "0"]) == 0
    assert (seen["max_frames"], seen["score_threshold"], seen["threads"], seen["give_up_after"]) == (1, 0.0, 2, 0.0)


def test_a_bad_option_in_a_real_process_exits_2_before_loading_anything(tmp_path):
    argv = [sys.executable, "-m", "mtl_edge", "run", str(tmp_path / "missing.onnx"), "--source", str(tmp_path)]
    argv += ["--sink", str(tmp_path / "out.jsonl"), "--max-frames=-1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2 and "--max-frames" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--frames", "0"], "from 1 to 9000"),
        (["--seed", "-1"], "at least 0"),
        (["--checkpoint", "/no/such/file.pt"], "no such file"),
    ],
)
def test_demo_options_are_checked_before_any_work(argv, message, capsys, tmp_path):
    from mtl_edge.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("shipped", [True, False])
def test_the_demo_says_the_shipped_model_is_for_generated_scenes_only(shipped, capsys, tmp_path, monkeypatch):
    import mtl_edge.demo as demo
    from mtl_edge.assets import SHIPPED_CHECKPOINT

    class Stats:
        def summary(self) -> str:
            return "stats"

    monkeypatch.setattr(demo, "run_demo", lambda *args: (Stats(), tmp_path / "demo.mp4"))
    own = tmp_path / "own.pt"
    own.write_bytes(b"x")
    checkpoint = [] if shipped else ["--checkpoint", str(own)]
    assert main(["demo", "--out", str(tmp_path), *checkpoint]) == 0
    out = capsys.readouterr().out
    assert ("does not work on real camera footage" in out) == shipped
    assert ("recipes/bdd100k.yaml" in out) == shipped and SHIPPED_CHECKPOINT.is_file()
