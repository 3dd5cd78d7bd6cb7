"""Progress: a tqdm bar on a terminal; bounded plain lines (no carriage returns) for a service log."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import pytest

import mtl_edge.progress as progress_module
from mtl_edge.progress import PlainProgress, progress

ROOT = Path(__file__).resolve().parents[1] / "mtl_edge"


class Clock:
    """A fake monotonic clock: each reading advances it by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    fake = Clock(0.5)  # 1,000 updates over ~500 s: at most one line per 10 s
    monkeypatch.setattr(progress_module, "_clock", fake)
    return fake


def test_off_a_terminal_progress_is_a_bounded_number_of_plain_lines(clock):
    out = io.StringIO()
    assert list(progress(range(1000), "calibrate", stream=out, unit=" batches")) == list(range(1000))
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text  # no redraws, no escape codes
    assert 2 <= len(lines) <= 500 / 10 + 2  # one per 10 s at most, plus the final line
    assert lines[0].startswith("calibrate: ") and "batches" in lines[0] and "%" in lines[0]
    assert lines[-1].startswith("calibrate: 1000/1000 batches in ")  # the final summary is kept


def test_a_short_task_prints_only_its_final_line():
    out = io.StringIO()
    for _ in progress(range(5), "eval", stream=out):
        pass
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith("eval: 5/5 it in ")


def test_manual_counting_postfix_and_an_early_break_close_once(clock):
    out = io.StringIO()
    bar = progress(total=40, stream=out, unit=" scenes")
    for _ in range(40):
        bar.update()
    bar.set_postfix({"loss": "0.125"}, acc="0.9")
    bar.close()
    bar.close()
    assert out.getvalue().splitlines()[-1].endswith("loss=0.125, acc=0.9") and out.getvalue().count("in ") == 1
    out = io.StringIO()
    for i in progress(range(100), "epoch 1/3", stream=out):
        if i == 9:
            break  # train's max_steps: the generator is closed, and the final line printed
    assert out.getvalue().splitlines()[-1].startswith("epoch 1/3: 9/100 it in ")


def test_quiet_prints_nothing(clock):
    out = io.StringIO()
    bar = progress(range(1000), "train", enabled=False, stream=out)
    assert sum(bar) == sum(range(1000))
    bar.set_postfix(loss=1.0)
    assert out.getvalue() == ""
    assert progress(range(3), enabled=False, stream=Terminal()).__class__ is PlainProgress  # even on a terminal


def test_on_a_terminal_progress_is_a_tqdm_bar():
    tqdm = pytest.importorskip("tqdm").tqdm
    out = Terminal()
    bar = progress(range(3), "calibrate", stream=out, unit=" batches", leave=False)
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2]
    assert "\r" in out.getvalue()  # tqdm redraws in place on a terminal


def test_without_tqdm_a_terminal_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the base install: `import tqdm` fails
    out = Terminal()
    assert list(progress(range(3), "eval", stream=out)) == [0, 1, 2]
    assert out.getvalue().startswith("eval: 3/3 it in ") and "\r" not in out.getvalue()


def test_every_progress_bar_of_the_package_goes_through_the_helper():
    """tqdm only in mtl_edge/progress.py: one place decides between a bar and plain lines."""
    users = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "tqdm" for n in names):
                users.append(path.relative_to(ROOT.parent).as_posix())
    assert sorted(set(users)) == ["mtl_edge/progress.py"], "use mtl_edge.progress.progress instead of tqdm"


def test_a_synth_run_off_a_terminal_logs_plain_lines(tmp_path, capsys, monkeypatch):
    from mtl_edge.data.synth.writer import SynthOptions, generate

    monkeypatch.setattr(progress_module, "INTERVAL", 0.0)  # a line per scene: the most it can print
    generate(tmp_path / "d", 3, SynthOptions(seed=1, width=160, height=96), workers=1, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[-1].startswith("3/3 scenes in ")
