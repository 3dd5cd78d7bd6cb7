"""Tests for tools/tusimple_to_bdd.py (loaded from its path: tools/ is not a package)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mtl_edge.data.formats import read_frames
from tests.tools.scripts import run_script

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "tusimple_sample.json"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tusimple_to_bdd", ROOT / "tools" / "tusimple_to_bdd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converts_fixture(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lanes.json"
    assert tool.main([str(FIXTURE), "--out", str(out)]) == 0
    assert "wrote 2 frames with 3 lanes" in capsys.readouterr().out
    first, second = read_frames(out)
    assert first.name == "clips/0313-1/6040/20.jpg"
    assert second.name == "clips/0531/1492626047222176976_0/20.jpg"
    assert [ln.id for ln in first.lanes] == ["0", "1"], "the lane with one valid point is dropped"
    # -2 entries skipped, points ordered near (bottom) to far.
    np.testing.assert_allclose(first.lanes[0].points, [[550, 290], [570, 280], [590, 270], [610, 260]])
    assert first.lanes[1].points.shape == (6, 2)
    assert [ln.id for ln in second.lanes] == ["1"], "an all -2 lane is dropped"
    np.testing.assert_allclose(second.lanes[0].points, [[240, 270], [280.25, 250], [300.5, 240]])
    for lane in first.lanes + second.lanes:
        assert (lane.lane_type, lane.style, lane.direction) == ("single other", "solid", "parallel")
    raw = json.loads(out.read_text())
    assert raw[0]["labels"][0]["category"] == "single other"
    assert raw[0]["labels"][0]["attributes"]["laneTypes"] == "single other"


def test_several_inputs_and_duplicates(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "more.json"
    other.write_text(json.dumps({"lanes": [[1, 2]], "h_samples": [10, 20], "raw_file": "clips/x/1.jpg"}) + "\n\n")
    out = tmp_path / "lanes.json"
    assert tool.main([str(FIXTURE), str(other), "--out", str(out)]) == 0
    assert [f.name for f in read_frames(out)][-1] == "clips/x/1.jpg"
    assert tool.main([str(FIXTURE), str(FIXTURE), "--out", str(tmp_path / "dup.json")]) == 1
    assert "is also in" in capsys.readouterr().err
    assert not (tmp_path / "dup.json").exists()


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('{"lanes": [[1, 2, 3]], "h_samples": [10, 20], "raw_file": "a.jpg"}', "lanes[0]: 3 x values for 2 h_samples"),
        ('{"lanes": [[1, 2]], "h_samples": [10, 20]', "invalid JSON"),
        ('{"lanes": [[1, "x"]], "h_samples": [10, 20], "raw_file": "a.jpg"}', "lanes[0]: expected a list of numbers"),
        ('{"lanes": [[1, 2]], "h_samples": [10, 20]}', "raw_file"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_line_names_file_and_line(
    tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, fragment: str
) -> None:
    bad = tmp_path / "bad_labels.json"
    good = FIXTURE.read_text().splitlines()[0]
    bad.write_text(good + "\n" + line + "\n")
    out = tmp_path / "lanes.json"
    assert tool.main([str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad_labels.json:2: " in err and fragment in err, err
    assert not out.exists(), "nothing is written when an input is malformed"


def test_missing_input_is_reported(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main([str(tmp_path / "nope.json"), "--out", str(tmp_path / "o.json")]) == 1
    assert "nope.json" in capsys.readouterr().err


def test_help_explains(tool: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        tool.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "TuSimple" in text and "--out" in text and "single other" in text


def test_runs_as_script(tmp_path: Path) -> None:
    out = tmp_path / "lanes.json"
    result = run_script("tusimple_to_bdd.py", str(FIXTURE), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert len(read_frames(out)) == 2
