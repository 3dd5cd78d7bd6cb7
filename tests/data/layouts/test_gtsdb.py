"""Tests for the GTSDB layout (FullIJCNN2013), on hand-written files in the published format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import mtl_edge.data.layouts.gtsdb as gtsdb
from mtl_edge.data.categories import CategoryTable
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.labels import SIGN_CLASSES, Box2D, ObjectLabel

#: gt.txt as published (CRLF line ends, as the download has them), plus a blank line.
GT = (
    "00000.ppm;774;411;815;443;11\r\n"
    "00000.ppm;983;388;1024;432;14\r\n"
    "00001.ppm;386;494;442;552;1\r\n"
    "\r\n"
    "00600.ppm;10;20;30;40;27\r\n"
    "00899.ppm;1300;700;1359;799;17\r\n"
)


def write_gtsdb(root: Path, gt: str = GT, count: int = 900) -> Path:
    """A FullIJCNN2013 folder: ``count`` tiny .ppm scenes and gt.txt."""
    root.mkdir(parents=True, exist_ok=True)
    image = np.zeros((2, 3, 3), np.uint8)
    for number in range(count):
        assert cv2.imwrite(str(root / f"{number:05d}.ppm"), image)
    (root / "gt.txt").write_bytes(gt.encode())
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gtsdb(tmp_path_factory.mktemp("gtsdb") / "FullIJCNN2013")


def test_train_split(root: Path) -> None:
    data = gtsdb.load(root, "train")
    assert data.layout == "gtsdb" and data.images == root
    assert [f.name for f in data.frames] == [f"{n:05d}.ppm" for n in range(600)]
    assert data.covers == {f.name: frozenset({"boxes"}) for f in data.frames}, "every image, signs or not"
    assert data.sources["00005.ppm"] == [root / "gt.txt"]
    # Inclusive ROI columns/rows -> box edges (right + 1, bottom + 1); the class id is the category.
    assert data.frames[0].objects == [
        ObjectLabel("11", Box2D(774, 411, 816, 444), id="1"),
        ObjectLabel("14", Box2D(983, 388, 1025, 433), id="2"),
    ]
    assert data.frames[1].objects == [ObjectLabel("1", Box2D(386, 494, 443, 553), id="3")]
    assert all(f.objects == [] for f in data.frames[2:]), "images without gt lines are true negatives"


def test_val_split_is_the_test_images(root: Path) -> None:
    data = gtsdb.load(root, "val")
    assert [f.name for f in data.frames] == [f"{n:05d}.ppm" for n in range(600, 900)]
    assert data.frames[0].objects == [ObjectLabel("27", Box2D(10, 20, 31, 41), id="5")]
    assert data.frames[-1].objects == [ObjectLabel("17", Box2D(1300, 700, 1360, 800), id="6")]
    assert sum(len(f.objects) for f in data.frames) == 2


@pytest.mark.parametrize(
    "class_id, expected",
    [
        ("1", "speed_limit_30"),
        ("2", "speed_limit_50"),
        ("5", "speed_limit_80"),
        ("7", "speed_limit_100"),
        ("13", "yield"),
        ("14", "stop"),
        ("17", "no_entry"),
        ("0", None),  # speed limit 20
        ("6", None),  # restriction ends 80
        ("8", None),  # speed limit 120
        ("27", None),  # pedestrian crossing warning triangle, not our blue crossing sign
        ("42", None),
    ],
)
def test_default_table(class_id: str, expected: str | None) -> None:
    table = CategoryTable(gtsdb.LAYOUT.categories, {"signs": SIGN_CLASSES}, "x")
    assert table.resolve(ObjectLabel(class_id, Box2D(0, 0, 1, 1))) == ("signs", expected)


def test_layout_entry() -> None:
    layout = gtsdb.LAYOUT
    assert (layout.name, layout.heads, layout.roles) == ("gtsdb", ("signs",), ("train", "val"))
    assert layout.categories["*"] == "signs/ignore"


def test_detect(root: Path, tmp_path: Path) -> None:
    assert gtsdb.detect(root)
    (tmp_path / "only_gt").mkdir()
    (tmp_path / "only_gt" / "gt.txt").write_text(GT)
    assert not gtsdb.detect(tmp_path / "only_gt"), "gt.txt without .ppm scenes is something else"
    (tmp_path / "only_ppm").mkdir()
    assert cv2.imwrite(str(tmp_path / "only_ppm" / "00000.ppm"), np.zeros((2, 2, 3), np.uint8))
    assert not gtsdb.detect(tmp_path / "only_ppm")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("00002.ppm;1;2;3;4", "5 fields in"),
        ("00002.ppm;1;2;3;4;14;9", "7 fields in"),
        ("00002.ppm;1;2;x;4;14", 'rightCol: expected a whole number, got "x"'),
        ("00002.ppm;1.5;2;3;4;14", 'leftCol: expected a whole number, got "1.5"'),
        ("00002.ppm;-1;2;3;4;14", "leftCol: -1 is negative"),
        ("00002.ppm;5;2;3;4;14", "the ROI 5,2,3,4 has its corners out of order"),
        ("00002.ppm;1;2;3;4;43", "ClassID: 43 is no GTSRB class (0-42)"),
        ("2.ppm;1;2;3;4;14", 'image: expected a name from 00000.ppm to 00899.ppm, got "2.ppm"'),
        ("00900.ppm;1;2;3;4;14", 'got "00900.ppm"'),
        ("00002.jpg;1;2;3;4;14", 'got "00002.jpg"'),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, fragment: str) -> None:
    root = write_gtsdb(tmp_path / "g", gt="00000.ppm;774;411;815;443;11\n\n" + line + "\n", count=0)
    with pytest.raises(LabelFormatError) as info:
        gtsdb.load(root, "train")
    message = str(info.value)
    assert message.startswith(f"{root / 'gt.txt'}:3: ") and fragment in message, message
    assert "image;leftCol;topRow;rightCol;bottomRow;ClassID" in message


def test_missing_image_is_named(tmp_path: Path) -> None:
    root = write_gtsdb(tmp_path / "g", count=600)  # only the training images, as TrainIJCNN2013
    assert len(gtsdb.load(root, "train").frames) == 600
    with pytest.raises(FileNotFoundError) as info:
        gtsdb.load(root, "val")
    message = str(info.value)
    assert str(root / "00600.ppm") in message and "00600.ppm-00899.ppm" in message and "FullIJCNN2013.zip" in message


def test_missing_gt(tmp_path: Path) -> None:
    root = write_gtsdb(tmp_path / "g", count=1)
    (root / "gt.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"gt\.txt: no such file"):
        gtsdb.load(root, "train")
