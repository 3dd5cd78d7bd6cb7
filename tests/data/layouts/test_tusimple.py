"""Tests for mtl_edge.data.layouts.tusimple: the TuSimple lane benchmark layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import mtl_edge.data.layouts.tusimple as tusimple
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.layouts import _LAYOUTS

ROWS = [240, 250, 260, 270]


def _image(root: Path, name: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((8, 12, 3), np.uint8))


def _line(raw_file: str, lanes: list[list[int]], rows: list[int] | None = None) -> str:
    return json.dumps({"lanes": lanes, "h_samples": ROWS if rows is None else rows, "raw_file": raw_file})


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tiny TuSimple folder: two train files (0601 absent), the test labels and their images."""
    _write(
        tmp_path / "label_data_0313.json",
        [
            _line(
                "clips/0313-1/6040/20.jpg",
                [[-2, 632, 625, 617], [-2, -2, -2, -2], [719, 734, -2, -2], [-2, -2, 900, -2]],
            ),
            _line("clips/0313-1/5320/20.jpg", []),
        ],
    )
    _write(tmp_path / "label_data_0531.json", [_line("clips/0531/1492626047222176976_0/20.jpg", [[10, 20, 30, 40]])])
    _write(tmp_path / "test_label.json", [_line("clips/0530/1492626760788443246_0/20.jpg", [[-2, 5, 6, -2]])])
    for name in (
        "clips/0313-1/6040/20.jpg",
        "clips/0313-1/5320/20.jpg",
        "clips/0531/1492626047222176976_0/20.jpg",
        "clips/0530/1492626760788443246_0/20.jpg",
    ):
        _image(tmp_path, name)
    return tmp_path


def test_registered() -> None:
    layout = _LAYOUTS["tusimple"]
    assert layout is tusimple.LAYOUT
    assert layout.heads == ("lanes",) and layout.categories == {} and layout.roles == ("train", "val")
    assert any("test_label.json" in line for line in layout.expects)


def test_train_reads_the_label_data_files(root: Path) -> None:
    data = tusimple.load(root, "train")
    assert data.layout == "tusimple" and data.images == root and data.masks is None
    assert [f.name for f in data.frames] == [
        "clips/0313-1/6040/20.jpg",
        "clips/0313-1/5320/20.jpg",
        "clips/0531/1492626047222176976_0/20.jpg",
    ]
    first = data.frames[0]
    # all -2 lane (1) and the one-point lane (3) carry no polyline; ids keep the file's lane index
    assert [lane.id for lane in first.lanes] == ["0", "2"]
    np.testing.assert_array_equal(first.lanes[0].points, [[617, 270], [625, 260], [632, 250]])
    np.testing.assert_array_equal(first.lanes[1].points, [[734, 250], [719, 240]])
    for lane in first.lanes:
        assert lane.points.dtype == np.float32 and lane.points.shape[1] == 2
        assert (lane.lane_type, lane.style, lane.direction) == ("single other", "solid", "parallel")
    assert first.video_name == "clips/0313-1/6040" and first.frame_index == 20
    assert data.frames[1].lanes == []
    np.testing.assert_array_equal(data.frames[2].lanes[0].points, [[40, 270], [30, 260], [20, 250], [10, 240]])
    assert data.covers == {f.name: frozenset({"lanes"}) for f in data.frames}
    assert data.sources == {
        "clips/0313-1/6040/20.jpg": [root / "label_data_0313.json"],
        "clips/0313-1/5320/20.jpg": [root / "label_data_0313.json"],
        "clips/0531/1492626047222176976_0/20.jpg": [root / "label_data_0531.json"],
    }


def test_val_reads_the_test_labels(root: Path) -> None:
    data = tusimple.load(root, "val")
    assert [f.name for f in data.frames] == ["clips/0530/1492626760788443246_0/20.jpg"]
    np.testing.assert_array_equal(data.frames[0].lanes[0].points, [[6, 260], [5, 250]])
    assert data.sources == {"clips/0530/1492626760788443246_0/20.jpg": [root / "test_label.json"]}


def test_rows_in_any_order_still_give_near_to_far(tmp_path: Path) -> None:
    _write(tmp_path / "test_label.json", [_line("a/20.jpg", [[1, 2, 3]], rows=[300, 500, 400])])
    _image(tmp_path, "a/20.jpg")
    points = tusimple.load(tmp_path, "val").frames[0].lanes[0].points
    np.testing.assert_array_equal(points, [[2, 500], [3, 400], [1, 300]])


def test_detect(tmp_path: Path) -> None:
    assert not tusimple.detect(tmp_path)
    (tmp_path / "labels.json").write_text("[]")
    assert not tusimple.detect(tmp_path)
    (tmp_path / "label_data_0601.json").write_text("")
    assert tusimple.detect(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "test_label.json").write_text("")
    assert tusimple.detect(other)
    own = tmp_path / "own"
    own.mkdir()
    (own / "label_data_0707.json").write_text("")
    assert tusimple.detect(own)


def test_roles(root: Path) -> None:
    (root / "test_label.json").unlink()
    assert len(tusimple.load(root, "train").frames) == 3
    with pytest.raises(FileNotFoundError, match=r"no val label file; expected test_label\.json .*Unpack"):
        tusimple.load(root, "val")
    with pytest.raises(ValueError, match=r"splits train, val, not 'test'"):
        tusimple.load(root, "test")


def _load_error(tmp_path: Path, lines: list[str], exc: type[Exception] = LabelFormatError) -> str:
    _write(tmp_path / "label_data_0313.json", lines)
    for name in ("a/20.jpg", "b/20.jpg"):
        _image(tmp_path, name)
    with pytest.raises(exc) as info:
        tusimple.load(tmp_path, "train")
    return str(info.value)


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, [_line("a/20.jpg", [[1, 2, 3, 4]]), '{"raw_file": "b/20.jpg", "lanes": [[1, 2]'])
    assert msg.startswith(f"{tmp_path / 'label_data_0313.json'}: line 2: not valid JSON")
    assert "Write one JSON object per line" in msg


@pytest.mark.parametrize(
    ("raw", "where", "fix"),
    [
        ([1, 2], "line 1: expected a JSON object", "Write one JSON object per line"),
        ({"raw_file": "a/20.jpg", "lanes": []}, "line 1: h_samples: missing", "Write one JSON object per line"),
        ({"raw_file": 7, "lanes": [], "h_samples": ROWS}, "line 1: raw_file: expected an image path", "relative"),
        ({"raw_file": "/x/20.jpg", "lanes": [], "h_samples": ROWS}, "line 1: raw_file: ", "relative"),
        ({"raw_file": "a/20.jpg", "lanes": [], "h_samples": []}, "line 1: h_samples: expected", "Give h_samples"),
        ({"raw_file": "a/20.jpg", "lanes": [], "h_samples": [1, "2"]}, "line 1: h_samples[1]: ", "Give h_samples"),
        ({"raw_file": "a/20.jpg", "lanes": {}, "h_samples": ROWS}, "line 1: lanes: expected a list", "one x per"),
        ({"raw_file": "a/20.jpg", "lanes": [[1, 2, None, 4]], "h_samples": ROWS}, "line 1: lanes[0][2]: ", "-2"),
    ],
)
def test_bad_fields_name_line_field_and_fix(tmp_path: Path, raw: Any, where: str, fix: str) -> None:
    msg = _load_error(tmp_path, [json.dumps(raw)])
    assert msg.startswith(f"{tmp_path / 'label_data_0313.json'}: {where}")
    assert fix in msg


def test_lanes_and_h_samples_length_mismatch(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, [_line("a/20.jpg", [[1, 2, 3, 4]]), _line("b/20.jpg", [[1, 2, 3, 4], [5, 6, 7]])])
    assert msg == (
        f"{tmp_path / 'label_data_0313.json'}: line 2: lanes[1]: has 3 x values but h_samples has 4 rows. "
        "Give one x per h_sample for every lane, -2 where the lane has no point on that row."
    )


def test_duplicate_image(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, [_line("a/20.jpg", []), _line("a/20.jpg", [])])
    p = tmp_path / "label_data_0313.json"
    assert msg == f'{p}: line 2: raw_file: "a/20.jpg" is already labelled at {p}: line 1. Keep one line per image.'


def test_empty_label_file(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, ["", "  "])
    assert "label_data_0313.json: no labelled frames" in msg and "remove the empty file" in msg


def test_missing_image(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, [_line("a/20.jpg", []), _line("clips/gone/20.jpg", [])], FileNotFoundError)
    path = tmp_path / "label_data_0313.json"
    assert msg.startswith(f"1 labelled image(s) missing: {tmp_path / 'clips/gone/20.jpg'} (raw_file at {path}: line 2)")
    assert "Unpack the clips/ folder" in msg
