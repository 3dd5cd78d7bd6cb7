"""Tests for mtl_edge.data.layouts.culane: the CULane lane dataset layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import mtl_edge.data.layouts.culane as culane
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.layouts import _LAYOUTS

CLIP = "driver_23_30frame/05151649_0422.MP4"
NIGHT = "driver_100_30frame/05251517_0433.MP4"


def _image(root: Path, name: str, lines: str | None) -> None:
    """Write image ``name`` and, unless None, its ``.lines.txt`` with ``lines``."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((6, 16, 3), np.uint8))
    if lines is not None:
        path.with_suffix(".lines.txt").write_text(lines)


def _gt(name: str, flags: str = "1 1 1 1") -> str:
    return f"/{name} /laneseg_label_w16/{name[:-4]}.png {flags}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A tiny CULane folder: a train_gt list of three frames and a plain val list of one."""
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "train_gt.txt").write_text(
        _gt(f"{CLIP}/00000.jpg", "0 1 1 0") + _gt(f"{CLIP}/00030.jpg", "0 0 0 0") + _gt(f"{NIGHT}/00060.jpg", "0 1 0 0")
    )
    (tmp_path / "list" / "val.txt").write_text(f"/{NIGHT}/01230.jpg\n")
    _image(
        tmp_path,
        f"{CLIP}/00000.jpg",
        "267.511 590 284.513 580 301.5 570 \n1197.91 590 1185.25 580 \n",
    )
    _image(tmp_path, f"{CLIP}/00030.jpg", "")  # an image with no lanes: an empty file
    _image(tmp_path, f"{NIGHT}/00060.jpg", "-16.9803 490 21.2945 480 \n5 5 \n")  # the 1-point lane is left out
    _image(tmp_path, f"{NIGHT}/01230.jpg", "100 300 110 310 120 320\n")  # listed top to bottom
    return tmp_path


def test_registered() -> None:
    layout = _LAYOUTS["culane"]
    assert layout is culane.LAYOUT
    assert layout.heads == ("lanes",) and layout.categories == {} and layout.roles == ("train", "val")
    assert any("list/train_gt.txt" in line for line in layout.expects)


def test_train_reads_train_gt(root: Path) -> None:
    data = culane.load(root, "train")
    assert data.layout == "culane" and data.images == root and data.masks is None
    names = [f"{CLIP}/00000.jpg", f"{CLIP}/00030.jpg", f"{NIGHT}/00060.jpg"]
    assert [f.name for f in data.frames] == names
    first = data.frames[0]
    assert [lane.id for lane in first.lanes] == ["0", "1"]
    np.testing.assert_allclose(first.lanes[0].points, [[267.511, 590], [284.513, 580], [301.5, 570]], rtol=1e-6)
    np.testing.assert_allclose(first.lanes[1].points, [[1197.91, 590], [1185.25, 580]], rtol=1e-6)
    for lane in first.lanes:
        assert lane.points.dtype == np.float32
        assert (lane.lane_type, lane.style, lane.direction) == ("single other", "solid", "parallel")
    assert first.video_name == CLIP and first.frame_index == 0
    assert data.frames[1].lanes == [] and data.frames[1].frame_index == 30
    third = data.frames[2]
    assert len(third.lanes) == 1 and third.lanes[0].id == "0"
    np.testing.assert_allclose(third.lanes[0].points, [[-16.9803, 490], [21.2945, 480]], rtol=1e-6)
    assert data.covers == {n: frozenset({"lanes"}) for n in names}
    gt = root / "list" / "train_gt.txt"
    assert data.sources == {n: [gt, (root / n).with_suffix(".lines.txt")] for n in names}


def test_val_reads_the_plain_list_near_to_far(root: Path) -> None:
    data = culane.load(root, "val")
    assert [f.name for f in data.frames] == [f"{NIGHT}/01230.jpg"]
    np.testing.assert_array_equal(data.frames[0].lanes[0].points, [[120, 320], [110, 310], [100, 300]])


def test_val_gt_is_preferred_and_train_txt_is_the_fallback(root: Path) -> None:
    (root / "list" / "val_gt.txt").write_text(_gt(f"{CLIP}/00030.jpg", "0 0 0 0"))
    assert [f.name for f in culane.load(root, "val").frames] == [f"{CLIP}/00030.jpg"]
    (root / "list" / "train_gt.txt").unlink()
    (root / "list" / "train.txt").write_text(f"/{CLIP}/00000.jpg\n")
    assert [f.name for f in culane.load(root, "train").frames] == [f"{CLIP}/00000.jpg"]


def test_detect(tmp_path: Path) -> None:
    assert not culane.detect(tmp_path)
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "test.txt").write_text("")
    assert not culane.detect(tmp_path)
    for name in ("train_gt.txt", "train.txt", "val_gt.txt", "val.txt"):
        (tmp_path / "list" / name).write_text("")
        assert culane.detect(tmp_path)
        (tmp_path / "list" / name).unlink()


def test_roles(root: Path) -> None:
    (root / "list" / "val.txt").unlink()
    assert len(culane.load(root, "train").frames) == 3
    with pytest.raises(FileNotFoundError, match=r"no val list; expected list/val_gt\.txt or list/val\.txt .*Unpack"):
        culane.load(root, "val")
    with pytest.raises(ValueError, match=r"splits train, val, not 'test'"):
        culane.load(root, "test")


def test_missing_lines_file_is_no_lanes_when_nothing_says_otherwise(root: Path) -> None:
    (root / f"{CLIP}/00030.lines.txt").unlink()  # flags 0 0 0 0
    data = culane.load(root, "train")
    assert data.frames[1].lanes == [] and data.covers[f"{CLIP}/00030.jpg"] == frozenset({"lanes"})
    assert data.sources[f"{CLIP}/00030.jpg"] == [root / "list" / "train_gt.txt"]
    (root / "list" / "train.txt").write_text(f"/{CLIP}/00000.jpg\n/{CLIP}/00030.jpg\n")
    (root / "list" / "train_gt.txt").unlink()
    assert culane.load(root, "train").frames[1].lanes == []


def test_missing_lines_file_with_lane_flags(root: Path) -> None:
    (root / f"{NIGHT}/00060.lines.txt").unlink()  # flags 0 1 0 0
    gt = root / "list" / "train_gt.txt"
    with pytest.raises(FileNotFoundError) as info:
        culane.load(root, "train")
    assert str(info.value).startswith(
        f"{gt}: line 3: {root / NIGHT / '00060.lines.txt'} is missing, but the line's flags 0 1 0 0 say the image "
        "has lanes. Restore the file"
    )
    assert str(info.value).endswith("or remove the line.")


def test_no_lines_files_at_all(root: Path) -> None:
    for p in root.rglob("*.lines.txt"):
        p.unlink()
    with pytest.raises(FileNotFoundError, match=r"train_gt\.txt: none of the 3 listed images has its \.lines\.txt"):
        culane.load(root, "train")
    with pytest.raises(FileNotFoundError, match=r"Unpack CULane's annotation archive"):
        culane.load(root, "val")


def test_missing_image(root: Path) -> None:
    (root / f"{CLIP}/00030.jpg").unlink()
    with pytest.raises(FileNotFoundError) as info:
        culane.load(root, "train")
    assert str(info.value) == (
        f"{root / 'list' / 'train_gt.txt'}: 1 listed image(s) missing: {root / CLIP / '00030.jpg'} (line 2). "
        f"Unpack the driver_* image archives into {root}, or remove those lines."
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"/{CLIP}/00000.jpg 1 1 1 1\n", "line 1: expected 6 fields, got 5"),
        (_gt(f"{CLIP}/00000.jpg", "1 2 0 0"), "line 1: lane flags 1 2 0 0 are not four 0/1 values"),
        (_gt(f"{CLIP}/00000.jpg") * 2, f'line 2: "{CLIP}/00000.jpg" is already listed on line 1'),
        ("/../x.jpg a.png 0 0 0 0\n", 'line 1: image path "/../x.jpg" is not inside the dataset folder'),
    ],
)
def test_bad_list_lines(root: Path, text: str, problem: str) -> None:
    path = root / "list" / "train_gt.txt"
    path.write_text(text)
    with pytest.raises(LabelFormatError) as info:
        culane.load(root, "train")
    assert str(info.value).startswith(f"{path}: {problem}. ")
    assert "/driver_xx/<clip>.MP4/<frame>.jpg" in str(info.value) or "List each image once" in str(info.value)


def test_bad_plain_list_and_empty_list(root: Path) -> None:
    path = root / "list" / "val.txt"
    path.write_text(f"/{NIGHT}/01230.jpg extra\n")
    with pytest.raises(LabelFormatError, match=r"val\.txt: line 1: expected 1 field, got 2\. Write each line as one"):
        culane.load(root, "val")
    path.write_text("\n")
    with pytest.raises(LabelFormatError, match=r"val\.txt: lists no images\. Write one image per line"):
        culane.load(root, "val")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 590 2 580 3\n", "line 1: 5 numbers do not make x y pairs"),
        ("\n1 590 x 580\n", 'line 2: "x" is not a number'),
        ("1 590 nan 580\n", "line 1: has a value that is not a finite number"),
    ],
)
def test_bad_lines_file(root: Path, text: str, problem: str) -> None:
    lines = root / NIGHT / "01230.lines.txt"
    lines.write_text(text)
    with pytest.raises(LabelFormatError) as info:
        culane.load(root, "val")
    assert str(info.value) == (
        f"{lines}: {problem}. Write one lane per line as x1 y1 x2 y2 ... in pixels, bottom to top, "
        "or leave the file empty for an image with no lanes."
    )
