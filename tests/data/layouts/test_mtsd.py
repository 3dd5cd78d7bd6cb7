"""Tests for the MTSD layout (mtsd_v2_fully_annotated), on hand-written files in the published format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import mtl_edge.data.layouts.mtsd as mtsd
from mtl_edge.data.categories import CategoryTable
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.labels import SIGN_CLASSES, Box2D, ObjectLabel

FLAGS = ("barrier", "occluded", "out-of-frame", "exterior", "ambiguous", "included", "direction-or-information")


def sign(key: str, label: str, box: tuple[float, float, float, float], **flags: bool) -> dict[str, Any]:
    """One MTSD object as the annotation files write it (every property present, false unless given)."""
    properties = {name: False for name in (*FLAGS, "highway", "dummy")}
    properties.update({name.replace("_", "-"): value for name, value in flags.items()})
    xmin, ymin, xmax, ymax = box
    bbox = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    return {"key": key, "label": label, "bbox": bbox, "properties": properties}


#: Three val images: signs, a panorama with a sign across its seam, and one without signs.
VAL: dict[str, dict[str, Any]] = {
    "Bh36Ed4HBJatMpSNnFTgTw": {
        "width": 4032,
        "height": 3024,
        "ispano": False,
        "objects": [
            sign("s1", "regulatory--stop--g1", (1210.5, 802.25, 1301.0, 890.75), occluded=True),
            sign("s2", "other-sign", (10, 20, 30, 40), ambiguous=True),
            sign("s3", "regulatory--maximum-speed-limit-50--g6", (3990, 100, 4032, 160), out_of_frame=True),
            sign("s4", "regulatory--yield--g1", (500, 600, 540, 640), dummy=True),
        ],
    },
    "OENb8BfFyAocFzHHM4Mehg": {
        "width": 4096,
        "height": 2048,
        "ispano": True,
        "objects": [
            {
                **sign("p1", "information--pedestrians-crossing--g1", (4080.0, 900.0, 12.0, 960.0)),
                "bbox": {
                    "xmin": 4080.0,
                    "ymin": 900.0,
                    "xmax": 12.0,
                    "ymax": 960.0,
                    "cross_boundary": {
                        "left": {"xmin": 4080.0, "ymin": 900.0, "xmax": 4096.0, "ymax": 960.0},
                        "right": {"xmin": 0.0, "ymin": 900.0, "xmax": 12.0, "ymax": 960.0},
                    },
                },
            },
            sign("p2", "regulatory--no-entry--g1", (100, 1000, 140, 1040)),
        ],
    },
    "zz_empty_key": {"width": 1920, "height": 1080, "ispano": False, "objects": []},
}


def write_mtsd(root: Path, splits: dict[str, dict[str, dict[str, Any]]], per_split_images: bool = True) -> Path:
    """An MTSD folder: splits/<role>.txt, annotations/<key>.json and tiny images."""
    (root / "splits").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    for role, files in splits.items():
        (root / "splits" / f"{role}.txt").write_text("\n".join(files) + "\n\n")
        images = root / "images" / role if per_split_images else root / "images"
        images.mkdir(parents=True, exist_ok=True)
        for key, annotation in files.items():
            (root / "annotations" / f"{key}.json").write_text(json.dumps(annotation))
            assert cv2.imwrite(str(images / f"{key}.jpg"), np.zeros((4, 6, 3), np.uint8))
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_mtsd(tmp_path / "mtsd_v2_fully_annotated", {"val": VAL})


def test_reads_val_split(root: Path) -> None:
    data = mtsd.load(root, "val")
    assert data.layout == "mtsd"
    assert data.images == root / "images" / "val"
    assert [f.name for f in data.frames] == [
        "Bh36Ed4HBJatMpSNnFTgTw.jpg",
        "OENb8BfFyAocFzHHM4Mehg.jpg",
        "zz_empty_key.jpg",
    ]
    assert data.covers == {f.name: frozenset({"boxes"}) for f in data.frames}, "every image is a true negative"
    assert data.sources["zz_empty_key.jpg"] == [root / "annotations" / "zz_empty_key.json"]
    first, pano, empty = data.frames
    assert first.objects == [
        ObjectLabel("regulatory--stop--g1", Box2D(1210.5, 802.25, 1301.0, 890.75), None, True, False, False, "s1"),
        ObjectLabel("other-sign", Box2D(10, 20, 30, 40), None, False, False, True, "s2"),
        ObjectLabel(
            "regulatory--maximum-speed-limit-50--g6", Box2D(3990, 100, 4032, 160), None, False, True, False, "s3"
        ),
        ObjectLabel("regulatory--yield--g1", Box2D(500, 600, 540, 640), None, False, False, True, "s4"),
    ]
    # The sign across the seam: two truncated ignore regions, one at each border.
    label = "information--pedestrians-crossing--g1"
    assert pano.objects == [
        ObjectLabel(label, Box2D(4080.0, 900.0, 4096.0, 960.0), None, False, True, True, "p1_0"),
        ObjectLabel(label, Box2D(0.0, 900.0, 12.0, 960.0), None, False, True, True, "p1_1"),
        ObjectLabel("regulatory--no-entry--g1", Box2D(100, 1000, 140, 1040), None, False, False, False, "p2"),
    ]
    assert empty.objects == []


def test_images_directly_under_images(tmp_path: Path) -> None:
    root = write_mtsd(tmp_path, {"train": {"k1": VAL["zz_empty_key"]}}, per_split_images=False)
    data = mtsd.load(root, "train")
    assert data.images == root / "images"
    assert [f.name for f in data.frames] == ["k1.jpg"]


@pytest.mark.parametrize(
    "label, expected",
    [
        ("regulatory--stop--g1", "stop"),
        ("regulatory--stop--g10", "stop"),
        ("regulatory--yield--g1", "yield"),
        ("regulatory--no-entry--g1", "no_entry"),
        ("information--pedestrians-crossing--g1", "pedestrian_crossing"),
        ("information--pedestrians-crossing--g2", "pedestrian_crossing"),
        ("regulatory--maximum-speed-limit-30--g1", "speed_limit_30"),
        ("regulatory--maximum-speed-limit-30--g3", "speed_limit_30"),
        ("regulatory--maximum-speed-limit-50--g6", "speed_limit_50"),
        ("regulatory--maximum-speed-limit-80--g1", "speed_limit_80"),
        ("regulatory--maximum-speed-limit-100--g3", "speed_limit_100"),
        ("regulatory--maximum-speed-limit-led-80--g1", "speed_limit_80"),
        ("regulatory--maximum-speed-limit-led-100--g1", "speed_limit_100"),
        # Not ours: ignore regions.
        ("other-sign", None),
        ("warning--pedestrians-crossing--g1", None),
        ("regulatory--stop-here-on-red-or-flashing-light--g1", None),
        ("regulatory--yield-or-stop-for-pedestrians--g1", None),
        ("regulatory--end-of-maximum-speed-limit-30--g2", None),
        ("regulatory--maximum-speed-limit-300--g1", None),
        ("regulatory--maximum-speed-limit-120--g1", None),
        ("warning--stop-ahead--g9", None),
        ("complementary--chevron-right--g3", None),
    ],
)
def test_default_table(label: str, expected: str | None) -> None:
    table = CategoryTable(mtsd.LAYOUT.categories, {"signs": SIGN_CLASSES}, "x")
    assert table.resolve(ObjectLabel(label, Box2D(0, 0, 1, 1))) == ("signs", expected)
    # A box the dataset marks ambiguous or dummy keeps its mapping; its ignore flag makes it an ignore region.
    assert table.resolve(ObjectLabel(label, Box2D(0, 0, 1, 1), ignore=True)) == ("signs", expected)


def test_layout_entry() -> None:
    layout = mtsd.LAYOUT
    assert (layout.name, layout.heads, layout.roles) == ("mtsd", ("signs",), ("train", "val"))
    assert layout.categories["*"] == "signs/ignore" and layout.categories["other-sign"] == "signs/ignore"
    assert layout.load is mtsd.load and layout.detect is mtsd.detect


def test_detect(root: Path, tmp_path: Path) -> None:
    assert mtsd.detect(root)
    assert not mtsd.detect(tmp_path / "nothing")
    (tmp_path / "other" / "annotations").mkdir(parents=True)
    assert not mtsd.detect(tmp_path / "other"), "annotations/ alone (no splits/) is not MTSD"
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("00000.ppm;1;2;3;4;14\n")
    assert not mtsd.detect(tmp_path / "gt")


def _rewrite(root: Path, key: str, annotation: Any) -> Path:
    path = root / "annotations" / f"{key}.json"
    path.write_text(annotation if isinstance(annotation, str) else json.dumps(annotation))
    return path


def _box(xmin: float, ymin: float, xmax: float, ymax: float) -> dict[str, float]:
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}


def _bad_object(**changes: Any) -> dict[str, Any]:
    obj = sign("s1", "regulatory--stop--g1", (1, 2, 3, 4))
    for key, value in changes.items():
        if key == "bbox_xmin":
            obj["bbox"]["xmin"] = value
        else:
            obj[key] = value
    return {"width": 100, "height": 50, "ispano": False, "objects": [obj]}


@pytest.mark.parametrize(
    "annotation, fragment",
    [
        (_bad_object(bbox_xmin="12"), 'objects[0].bbox.xmin: expected a number, got "12"'),
        (_bad_object(bbox_xmin=None), "objects[0].bbox.xmin: expected a number, got null"),
        (_bad_object(label=""), "objects[0].label: expected the sign label"),
        (_bad_object(bbox=[1, 2, 3, 4]), "objects[0].bbox: expected {xmin, ymin, xmax, ymax}"),
        (
            _bad_object(properties={"occluded": "yes"}),
            'objects[0].properties.occluded: expected true or false, got "yes"',
        ),
        (_bad_object(bbox=_box(1, 9, 3, 4)), "objects[0].bbox: ymin 9 is greater than ymax 4"),
        (_bad_object(bbox_xmin=90), "objects[0].bbox: xmin 90 is right of xmax 3 in an image that is no panorama"),
        ({"width": 0, "height": 50, "objects": []}, "width: expected the image width in pixels"),
        ({"width": 100, "height": 50, "ispano": "no", "objects": []}, 'ispano: expected true or false, got "no"'),
        ({"width": 100, "height": 50}, "objects: expected a list of signs"),
        ([], "top level: expected a JSON object"),
        ('{"width": 100,', "invalid JSON"),
    ],
)
def test_bad_annotation_names_file_and_field(root: Path, annotation: Any, fragment: str) -> None:
    path = _rewrite(root, "zz_empty_key", annotation)
    with pytest.raises(LabelFormatError) as info:
        mtsd.load(root, "val")
    message = str(info.value)
    assert message.startswith(f"{path}: ") and fragment in message, message


def test_missing_image_is_named(root: Path) -> None:
    image = root / "images" / "val" / "OENb8BfFyAocFzHHM4Mehg.jpg"
    image.unlink()
    with pytest.raises(FileNotFoundError) as info:
        mtsd.load(root, "val")
    assert str(image) in str(info.value) and "no such image" in str(info.value)
    assert "Extract the MTSD val image archive" in str(info.value)


def test_missing_annotation_and_split(root: Path) -> None:
    (root / "annotations" / "zz_empty_key.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"zz_empty_key\.json: no such file, yet .*val\.txt lists"):
        mtsd.load(root, "val")
    with pytest.raises(FileNotFoundError, match=r"train\.txt: no such file"):
        mtsd.load(root, "train")


def test_bad_split_lines_name_the_line(root: Path) -> None:
    split = root / "splits" / "val.txt"
    split.write_text("Bh36Ed4HBJatMpSNnFTgTw\n\nBh36Ed4HBJatMpSNnFTgTw\n")
    with pytest.raises(LabelFormatError, match=r"val\.txt:3: image key 'Bh36Ed4HBJatMpSNnFTgTw' is listed again"):
        mtsd.load(root, "val")
    split.write_text("Bh36Ed4HBJatMpSNnFTgTw.jpg\n")
    with pytest.raises(LabelFormatError, match=r"val\.txt:1: .* is not an image key"):
        mtsd.load(root, "val")
