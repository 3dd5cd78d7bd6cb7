"""Tests for tools/signs_to_bdd.py (loaded from its path: tools/ is not a package)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from mtl_edge.data.formats import read_frames
from tests.tools.scripts import run_script

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "signs_to_bdd.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("signs_to_bdd", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((2, 3, 3), np.uint8))


def _box(xmin: float, ymin: float, xmax: float, ymax: float) -> dict[str, float]:
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}


@pytest.fixture
def mtsd_root(tmp_path: Path) -> Path:
    """Two val images of mtsd_v2_fully_annotated: four signs, and none."""
    root = tmp_path / "mtsd"
    (root / "splits").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "splits" / "val.txt").write_text("keyA\nkeyB\n")
    objects = [
        {
            "key": "o1",
            "label": "regulatory--stop--g1",
            "bbox": _box(10.5, 20, 50, 60.25),
            "properties": {"occluded": True},
        },
        {
            "key": "o2",
            "label": "regulatory--maximum-speed-limit-80--g1",
            "bbox": _box(100, 20, 140, 60),
            "properties": {},
        },
        {"key": "o3", "label": "warning--curve-left--g1", "bbox": _box(200, 20, 240, 60), "properties": {}},
        {
            "key": "o4",
            "label": "regulatory--yield--g1",
            "bbox": _box(300, 20, 340, 60),
            "properties": {"ambiguous": True},
        },
    ]
    (root / "annotations" / "keyA.json").write_text(
        json.dumps({"width": 640, "height": 480, "ispano": False, "objects": objects})
    )
    (root / "annotations" / "keyB.json").write_text(
        json.dumps({"width": 640, "height": 480, "ispano": False, "objects": []})
    )
    for key in ("keyA", "keyB"):
        _image(root / "images" / f"{key}.jpg")
    return root


@pytest.fixture
def gtsdb_root(tmp_path: Path) -> Path:
    """A FullIJCNN2013 folder with three signs in gt.txt."""
    root = tmp_path / "FullIJCNN2013"
    for number in range(900):
        _image(root / f"{number:05d}.ppm")
    (root / "gt.txt").write_text("00000.ppm;774;411;815;443;11\n00000.ppm;983;388;1024;432;14\n00700.ppm;1;2;3;4;13\n")
    return root


def test_converts_mtsd(tool: ModuleType, mtsd_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mtsd_val.json"
    assert tool.main(["--layout", "mtsd", str(mtsd_root), "--split", "val", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 frames with 2 typed signs and 2 ignore regions" in printed
    assert str(mtsd_root / "images") in printed
    first, second = read_frames(out)
    assert (first.name, second.name) == ("keyA.jpg", "keyB.jpg")
    assert second.objects == [], "an image without signs is written as a true negative"
    got = [(o.category, o.sign_type, o.ignore, o.occluded, o.id) for o in first.objects]
    assert got == [
        ("traffic sign", "stop", False, True, "o1"),
        ("traffic sign", "speed_limit_80", False, False, "o2"),
        ("traffic sign", None, True, False, "o3"),  # not one of our classes
        ("traffic sign", "yield", True, False, "o4"),  # ambiguous: typed, but an ignore region
    ]
    box = first.objects[0].box
    assert (box.x1, box.y1, box.x2, box.y2) == (10.5, 20, 50, 60.25)
    raw = json.loads(out.read_text())
    assert raw[0]["labels"][0]["attributes"] == {"occluded": True, "truncated": False, "signType": "stop"}
    assert raw[0]["labels"][2]["attributes"] == {"occluded": False, "truncated": False, "ignore": True}


def test_converts_gtsdb(tool: ModuleType, gtsdb_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gtsdb_train.json"
    assert tool.main(["--layout", "gtsdb", str(gtsdb_root), "--split", "train", "--out", str(out)]) == 0
    assert "wrote 600 frames with 1 typed signs and 1 ignore regions" in capsys.readouterr().out
    frames = read_frames(out)
    assert len(frames) == 600 and frames[0].name == "00000.ppm"
    priority, stop = frames[0].objects
    assert (priority.sign_type, priority.ignore) == (None, True), "class 11 is not one of ours"
    assert (stop.sign_type, stop.ignore) == ("stop", False)
    assert (stop.box.x1, stop.box.y1, stop.box.x2, stop.box.y2) == (983, 388, 1025, 433)
    out_val = tmp_path / "gtsdb_val.json"
    assert tool.main(["--layout", "gtsdb", str(gtsdb_root), "--out", str(out_val)]) == 0, "--split defaults to val"
    val = read_frames(out_val)
    assert len(val) == 300 and val[100].objects[0].sign_type == "yield"


def test_malformed_input_writes_nothing(
    tool: ModuleType, gtsdb_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (gtsdb_root / "gt.txt").write_text("00000.ppm;774;411;815;443;11\n00001.ppm;1;2;3\n")
    out = tmp_path / "o.json"
    assert tool.main(["--layout", "gtsdb", str(gtsdb_root), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{gtsdb_root / 'gt.txt'}:2: 4 fields" in err, err
    assert not out.exists()


def test_bad_root_and_split(
    tool: ModuleType, tmp_path: Path, mtsd_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.json"
    assert tool.main(["--layout", "mtsd", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert "nope: no such folder" in capsys.readouterr().err
    assert tool.main(["--layout", "mtsd", str(mtsd_root), "--split", "test", "--out", str(out)]) == 1
    assert "has splits train, val, not 'test'" in capsys.readouterr().err
    (mtsd_root / "images" / "keyB.jpg").unlink()
    assert tool.main(["--layout", "mtsd", str(mtsd_root), "--out", str(out)]) == 1
    assert "keyB.jpg: no such image" in capsys.readouterr().err
    assert not out.exists()


def test_help_explains(tool: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        tool.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "mtsd" in text and "gtsdb" in text and "--out" in text and "ignore" in text


def test_runs_as_script(mtsd_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "signs.json"
    result = run_script("signs_to_bdd.py", "--layout", "mtsd", str(mtsd_root), "--split", "val", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert len(read_frames(out)) == 2
