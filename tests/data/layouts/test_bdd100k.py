"""The BDD100K layouts (2020 and 2018) and the generator's, on hand-written files in the published schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from mtl_edge.data.formats import LabelFormatError
from mtl_edge.data.layouts import detect_layout, load_split
from mtl_edge.data.splits import open_folder
from mtl_edge.data.tasks import SPECS

H, W = 72, 128


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((H, W, 3), np.uint8))


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _box(i: int, category: str, x1: float, **attrs: Any) -> dict[str, Any]:
    return {
        "id": str(i),
        "category": category,
        "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "NA", **attrs},
        "box2d": {"x1": x1, "y1": 10.0, "x2": x1 + 12.0, "y2": 30.0},
    }


# det_20 as released: frames with "labels", one without (annotated, nothing in it), a crowd box,
# BDD100K's ignored categories and ones no head of ours predicts.
DET = [
    {
        "name": "a.jpg",
        "attributes": {"weather": "clear", "timeofday": "daytime", "scene": "city street"},
        "timestamp": 10000,
        "labels": [
            _box(1, "car", 2.0),
            _box(2, "other vehicle", 20.0),
            _box(3, "trailer", 40.0),
            _box(4, "train", 60.0),
            _box(5, "car", 80.0, crowd=True),
            _box(6, "pedestrian", 100.0),
            _box(7, "traffic light", 110.0, trafficLightColor="G"),
            _box(8, "traffic sign", 5.0),
        ],
    },
    {"name": "b.jpg", "attributes": {"weather": "rainy", "timeofday": "night", "scene": "highway"}, "timestamp": 10000},
]
# lane_val.json as released: the lane type is the category; "c.jpg" has lanes but is not in det_20.
LANES = [
    {
        "name": "a.jpg",
        "labels": [
            {
                "id": "10",
                "category": "single white",
                "attributes": {"laneDirection": "parallel", "laneStyle": "dashed", "laneTypes": "single white"},
                "poly2d": [{"vertices": [[20.0, 71.0], [50.0, 30.0]], "types": "LL", "closed": False}],
            }
        ],
    },
    {
        "name": "c.jpg",
        "labels": [
            {
                "id": "11",
                "category": "crosswalk",
                "attributes": {"laneDirection": "vertical", "laneStyle": "solid", "laneTypes": "crosswalk"},
                "poly2d": [{"vertices": [[0.0, 60.0], [127.0, 60.0]], "types": "LL", "closed": False}],
            },
            {
                "id": "12",
                "category": "single yellow",
                "attributes": {"laneDirection": "parallel", "laneStyle": "solid", "laneTypes": "single yellow"},
                "poly2d": [{"vertices": [[60.0, 20.0], [40.0, 71.0]], "types": "LL", "closed": False}],
            },
        ],
    },
]


@pytest.fixture
def bdd2020(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        _image(tmp_path / "images" / "100k" / "val" / f"{name}.jpg")
    _json(tmp_path / "labels" / "det_20" / "det_val.json", DET)
    _json(tmp_path / "labels" / "lane" / "polygons" / "lane_val.json", LANES)
    mask = np.full((H, W), 2, np.uint8)  # 2020 coding: 2 is background
    mask[50:, :64] = 0  # direct
    mask[50:, 64:] = 1  # alternative
    path = tmp_path / "labels" / "drivable" / "masks" / "val" / "a.png"
    path.parent.mkdir(parents=True)
    assert cv2.imwrite(str(path), mask)
    return tmp_path


def test_the_2020_layout_is_detected_and_read_per_frame(bdd2020: Path) -> None:
    assert detect_layout(bdd2020) == "bdd100k"
    ds = open_folder(bdd2020)
    flags = {f.name: dict(zip(ds.heads, ds.supervises[i].tolist())) for i, f in enumerate(ds.frames)}
    # a: in det and lane files, with a mask. b: in det only, no labels at all: a box negative.
    # c: in the lane file only: lanes, nothing about boxes.
    assert flags["a.jpg"] == {"lanes": True, "vehicles": True, "signs": True, "drivable": True}
    assert flags["b.jpg"] == {"lanes": False, "vehicles": True, "signs": True, "drivable": False}
    assert flags["c.jpg"] == {"lanes": True, "vehicles": False, "signs": False, "drivable": False}


def test_bdd100k_categories_become_classes_ignore_regions_or_nothing(bdd2020: Path) -> None:
    ds = open_folder(bdd2020)
    _, t = ds[[f.name for f in ds.frames].index("a.jpg")]
    vehicles, signs = ds.box_heads.index("vehicles"), ds.box_heads.index("signs")
    got = [(int(h), int(c), bool(i)) for h, c, i in zip(t["head"], t["labels"], t["ignore"])]
    car = SPECS["vehicles"].classes.index("car")
    assert got == [
        (vehicles, car, False),  # car
        (vehicles, -1, True),  # other vehicle: BDD100K's evaluation ignores it
        (vehicles, -1, True),  # trailer: likewise
        (vehicles, -1, True),  # train: no class of ours
        (vehicles, car, True),  # a crowd of cars
        (signs, -1, True),  # an untyped sign
    ], "pedestrian and traffic light are skipped"


def test_the_2020_masks_are_read_in_their_coding(bdd2020: Path) -> None:
    ds = open_folder(bdd2020)
    _, labels = ds.source([f.name for f in ds.frames].index("a.jpg"))
    mask = labels.read_mask()
    assert (mask[:50] == 0).all() and (mask[50:, :64] == 1).all() and (mask[50:, 64:] == 2).all()


def test_lane_rules_drop_the_crosswalk(bdd2020: Path) -> None:
    ds = open_folder(bdd2020)
    c = ds.frames[[f.name for f in ds.frames].index("c.jpg")]
    assert [lane.lane_type for lane in c.lanes] == ["single yellow"]
    assert c.lanes[0].points[0, 1] > c.lanes[0].points[-1, 1], "oriented near to far"


def test_an_unmapped_category_names_the_file_the_field_and_the_fix(bdd2020: Path) -> None:
    det = json.loads((bdd2020 / "labels" / "det_20" / "det_val.json").read_text())
    det[0]["labels"].append(_box(9, "car", 30.0))
    (bdd2020 / "labels" / "det_20" / "det_val.json").write_text(json.dumps(det))
    data = load_split(bdd2020)
    data.frames[0].objects[-1].category = "van"  # a category of another dataset
    from mtl_edge.data.categories import BDD100K_CATEGORIES
    from mtl_edge.data.dataset import DrivingDataset
    from mtl_edge.data.tasks import category_table

    with pytest.raises(
        LabelFormatError,
        match=r"det_val\.json.*: frame 'a\.jpg' labels\[\]\.category: category 'van'.*Add it under categories:",
    ):
        DrivingDataset(data, categories=category_table(BDD100K_CATEGORIES))


def test_a_missing_label_file_names_the_files_expected(bdd2020: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"det_train\.json and/or .*lane_train\.json"):
        (bdd2020 / "images" / "100k" / "train").mkdir()
        load_split(bdd2020, role="train")


def test_a_folder_in_no_layout_lists_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(ValueError, match=r"(?s)not a dataset folder in any supported layout.*bdd100k: images/100k"):
        detect_layout(tmp_path)
    with pytest.raises(ValueError, match="unknown layout 'kitti'; supported layouts are generated, bdd100k"):
        load_split(tmp_path, "kitti")


def test_masks_of_the_wrong_coding_are_refused(bdd2020: Path) -> None:
    from mtl_edge.data.splits import check_mask_coding

    data = load_split(bdd2020)
    data.coding = "2018"
    with pytest.raises(LabelFormatError, match=r'a\.png: read with drivable_coding .2018.*Set it to "2020"'):
        check_mask_coding(data, 'Set it to "{other}".')
    # A published folder whose masks are not in its layout's coding: the fix says what to do.
    mask = bdd2020 / "labels" / "drivable" / "masks" / "val" / "a.png"
    assert cv2.imwrite(str(mask), np.where(cv2.imread(str(mask), cv2.IMREAD_UNCHANGED) == 2, 0, 1).astype(np.uint8))
    with pytest.raises(LabelFormatError, match=r"masks are 2020-coded as published; convert these"):
        open_folder(bdd2020)


def test_the_2018_layout_reads_its_all_in_one_file_and_drivable_maps(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "100k" / "val" / "a.jpg")
    frame = {
        "name": "a.jpg",
        "attributes": {"weather": "clear", "scene": "highway", "timeofday": "daytime"},
        "timestamp": 10000,
        "labels": [
            {
                "id": 0,
                "category": "car",
                "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "none"},
                "manualShape": True,
                "manualAttributes": True,
                "box2d": {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 20.0},
            },
            {
                "id": 1,
                "category": "lane",
                "attributes": {"laneDirection": "parallel", "laneStyle": "solid", "laneType": "road curb"},
                "manualShape": True,
                "manualAttributes": True,
                "poly2d": [{"vertices": [[0.0, 70.0], [30.0, 40.0]], "types": "LL", "closed": False}],
            },
        ],
    }
    _json(tmp_path / "labels" / "bdd100k_labels_images_val.json", [frame])
    mask = np.zeros((H, W), np.uint8)
    mask[40:] = 1
    path = tmp_path / "drivable_maps" / "labels" / "val" / "a_drivable_id.png"
    path.parent.mkdir(parents=True)
    assert cv2.imwrite(str(path), mask)
    assert detect_layout(tmp_path) == "bdd100k-2018"
    ds = open_folder(tmp_path)
    assert ds.supervises[0].tolist() == [True, True, True, True]
    assert ds.frames[0].lanes == [], "road curbs are no lane marking by default"
    _, labels = ds.source(0)
    assert labels.mask_file == path and (labels.read_mask()[40:] == 1).all()
