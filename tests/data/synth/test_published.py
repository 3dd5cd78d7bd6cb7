"""``data synth --layout bdd100k|culane|mtsd``: the files against the published schemas, by hand;
determinism, resume, adding a split; and loading them back with the layout readers (and Scalabel)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_edge.data.synth.published import STATE_DIR, PublishedOptions
from mtl_edge.data.synth.published_mtsd import MTSD_LABELS, PROPERTIES, UNMAPPED_LABELS
from mtl_edge.data.synth.published_run import generate_published, options_for

SMALL = (320, 180)
CULANE_SMALL = (410, 148)  # a quarter of CULane's 1640x590
SEED = 3
N = 6

BDD_BOX_CATEGORIES = {"pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"} | {
    "traffic light",
    "traffic sign",
    "other vehicle",
    "other person",
    "trailer",
}
BDD_LANE_CATEGORIES = {"crosswalk", "double other", "double white", "double yellow", "road curb"} | {
    "single other",
    "single white",
    "single yellow",
}


def _make(root: Path, layout: str, n: int = N, split: str = "train", seed: int = SEED, workers: int = 1):
    size = CULANE_SMALL if layout == "culane" else SMALL
    return generate_published(root, n, options_for(layout, seed, size), split=split, workers=workers, progress=False)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "meta.json"
    }


@pytest.fixture(scope="module")
def bdd(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bdd")
    assert _make(root, "bdd100k") == (N, 0)
    return root


@pytest.fixture(scope="module")
def culane(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("culane")
    _make(root, "culane")
    _make(root, "culane", n=4, split="val")
    return root


@pytest.fixture(scope="module")
def mtsd(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mtsd")
    _make(root, "mtsd", n=N)
    return root


# --------------------------------------------------------------------------------- BDD100K 2020


def _load(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    assert isinstance(data, list)
    return data


def test_bdd_paths_and_frames(bdd):
    det = _load(bdd / "labels/det_20/det_train.json")
    lanes = _load(bdd / "labels/lane/polygons/lane_train.json")
    names = [f["name"] for f in det]
    assert len(names) == N == len(set(names))
    assert [f["name"] for f in lanes] == names
    for name in names:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{8}\.jpg", name)
        image = cv2.imread(str(bdd / "images/100k/train" / name))
        assert image.shape == (180, 320, 3)
        mask = cv2.imread(str(bdd / "labels/drivable/masks/train" / name.replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (180, 320) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1, 2}
        # 2020 coding: 0 direct (the ego lane, at the bottom centre), 2 background (the sky, at the top)
        assert mask[-2, 160] == 0 and (mask[0] == 2).all()
    tops = {p.relative_to(bdd).parts[0] for p in bdd.iterdir()}
    assert tops == {"images", "labels", STATE_DIR}


def test_bdd_det_schema(bdd):
    det = _load(bdd / "labels/det_20/det_train.json")
    seen: set[str] = set()
    without_labels = 0
    for frame in det:
        assert set(frame) <= {"name", "attributes", "timestamp", "labels"}
        assert set(frame["attributes"]) == {"weather", "scene", "timeofday"}
        assert frame["timestamp"] == 10000
        if "labels" not in frame:
            without_labels += 1
            continue
        ids = [label["id"] for label in frame["labels"]]
        assert len(set(ids)) == len(ids) and all(isinstance(i, str) for i in ids)
        for label in frame["labels"]:
            assert set(label) == {"id", "attributes", "category", "box2d"}
            assert label["category"] in BDD_BOX_CATEGORIES
            seen.add(label["category"])
            attrs = label["attributes"]
            assert set(attrs) == {"occluded", "truncated", "trafficLightColor", "crowd"}  # no signType: not published
            assert isinstance(attrs["occluded"], bool) and isinstance(attrs["truncated"], bool)
            assert attrs["crowd"] is False
            assert attrs["trafficLightColor"] in (("R", "Y", "G") if label["category"] == "traffic light" else ("NA",))
            box = label["box2d"]
            assert set(box) == {"x1", "y1", "x2", "y2"} and all(isinstance(v, float) for v in box.values())
            assert 0 <= box["x1"] <= box["x2"] <= 320 and 0 <= box["y1"] <= box["y2"] <= 180
    assert without_labels >= 1, "a frame with nothing labelled has no labels key"
    assert {"car", "traffic sign", "pedestrian", "traffic light"} <= seen
    assert seen & {"trailer", "other vehicle"}, "categories no head predicts appear, as in the real files"


def test_bdd_lane_schema(bdd):
    lanes = _load(bdd / "labels/lane/polygons/lane_train.json")
    far_to_near = near_to_far = 0
    for frame in lanes:
        assert set(frame) == {"name", "labels"}
        labels = frame["labels"]
        assert sum(lb["category"] == "road curb" for lb in labels) == 2
        for label in labels:
            assert set(label) == {"id", "attributes", "category", "poly2d"}
            assert label["category"] in BDD_LANE_CATEGORIES
            attrs = label["attributes"]
            assert set(attrs) == {"laneDirection", "laneStyle", "laneTypes"}
            assert attrs["laneTypes"] == label["category"]
            assert attrs["laneStyle"] in ("solid", "dashed")
            assert attrs["laneDirection"] == ("vertical" if label["category"] == "crosswalk" else "parallel")
            (poly,) = label["poly2d"]
            assert set(poly) == {"vertices", "types", "closed"} and poly["closed"] is False
            verts = np.array(poly["vertices"])
            assert 2 <= len(verts) <= 6 and poly["types"] == "L" * len(verts)
            assert len(verts) >= 3 or label["category"] == "crosswalk"
            if attrs["laneDirection"] == "parallel":
                far_to_near += verts[0, 1] < verts[-1, 1]
                near_to_far += verts[0, 1] > verts[-1, 1]
    assert far_to_near and near_to_far, "annotators click lanes in both directions"


def test_bdd_double_lines_are_two_close_parallel_polylines(bdd):
    pairs = 0
    for frame in _load(bdd / "labels/lane/polygons/lane_train.json"):
        doubles = [lb for lb in frame["labels"] if lb["category"].startswith("double")]
        assert len(doubles) % 2 == 0
        for a, b in zip(doubles[::2], doubles[1::2]):
            assert a["category"] == b["category"]
            pa, pb = (np.array(lb["poly2d"][0]["vertices"]) for lb in (a, b))
            pa, pb = (p if p[0, 1] > p[-1, 1] else p[::-1] for p in (pa, pb))  # both near to far
            y = (max(pa[-1, 1], pb[-1, 1]) + min(pa[0, 1], pb[0, 1])) / 2  # halfway along both
            gap = abs(np.interp(y, pa[::-1, 1], pa[::-1, 0]) - np.interp(y, pb[::-1, 1], pb[::-1, 0]))
            assert 0 < gap < 12, "the two stripes of a double line lie side by side"
            pairs += 1
    assert pairs >= 1


def test_bdd_crosswalk_is_two_vertical_lines_across_the_road(bdd):
    crossings = 0
    for frame in _load(bdd / "labels/lane/polygons/lane_train.json"):
        walks = [lb for lb in frame["labels"] if lb["category"] == "crosswalk"]
        if walks:
            assert len(walks) == 2
            for lb in walks:
                verts = np.array(lb["poly2d"][0]["vertices"])
                assert np.ptp(verts[:, 0]) > 3 * np.ptp(verts[:, 1]), "a crossing runs across the image"
            crossings += 1
    assert crossings >= 1


def test_bdd_loads_with_the_bdd100k_reader(bdd):
    from mtl_edge.data.categories import BDD100K_CATEGORIES
    from mtl_edge.data.layouts import detect_layout, load_split
    from mtl_edge.data.tasks import category_table

    assert detect_layout(bdd) == "bdd100k"
    data = load_split(bdd, "bdd100k", "train")
    assert data.coding == "2020" and len(data.frames) == N
    det = _load(bdd / "labels/det_20/det_train.json")
    assert sorted(f.name for f in data.frames) == sorted(f["name"] for f in det)
    table = category_table(BDD100K_CATEGORIES)
    by_name = {f.name: f for f in data.frames}
    for raw in det:
        frame = by_name[raw["name"]]
        assert data.covers[frame.name] == {"boxes", "lanes"}
        assert len(frame.objects) == len(raw.get("labels", []))
        assert frame.lanes, "every frame has lanes (curbs at least)"
        assert data.masks is not None and data.masks(frame.name).is_file()
        for obj in frame.objects:
            table.resolve(obj)  # every category is in the reader's table
            if obj.category == "traffic sign":
                assert table.resolve(obj) == ("signs", None), "an untyped sign is an ignore region"


@pytest.mark.parametrize("name", ["labels/det_20/det_train.json", "labels/lane/polygons/lane_train.json"])
def test_bdd_files_load_with_scalabel(bdd, name):
    scalabel_io = pytest.importorskip("scalabel.label.io", reason="scalabel is not installed (pip install scalabel)")
    import pydantic

    if int(pydantic.VERSION.split(".")[0]) >= 2:
        pytest.skip("scalabel 0.3 needs pydantic < 2 (its models are pydantic v1 models)")
    frames = scalabel_io.load(str(bdd / name)).frames
    assert len(frames) == N
    labels = [label for frame in frames for label in frame.labels or []]
    assert labels
    if "det_20" in name:
        assert all(label.box2d is not None for label in labels)
    else:
        assert all(label.poly2d and not label.poly2d[0].closed for label in labels)


# --------------------------------------------------------------------------------- CULane

_GT = re.compile(
    r"(/driver_(23_30|161_90)frame/\d{8}_\d{4}\.MP4/(\d{5})\.jpg) "
    r"/laneseg_label_w16/driver_(?:23_30|161_90)frame/\d{8}_\d{4}\.MP4/\3\.png( [01]){4}\n"
)


def test_culane_default_size_is_the_datasets():
    assert (options_for("culane", 0, None).width, options_for("culane", 0, None).height) == (1640, 590)
    assert (options_for("bdd100k", 0, None).width, options_for("mtsd", 0, None).height) == (1280, 720)


@pytest.mark.parametrize(
    ("split", "n", "driver", "step"), [("train", N, "driver_23_30frame", 30), ("val", 4, "driver_161_90frame", 90)]
)
def test_culane_lists_and_lines(culane, split, n, driver, step):
    gt = (culane / "list" / f"{split}_gt.txt").read_text().splitlines(keepends=True)
    plain = (culane / "list" / f"{split}.txt").read_text().splitlines(keepends=True)
    assert len(gt) == len(plain) == n
    w, h = CULANE_SMALL
    for gt_line, plain_line in zip(gt, plain):
        match = _GT.fullmatch(gt_line)
        assert match, gt_line
        assert plain_line == match[1] + "\n"
        assert match[1].startswith(f"/{driver}/") and int(match[3]) % step == 0
        flags = [int(v) for v in gt_line.split()[2:]]
        image = culane / match[1][1:]
        assert cv2.imread(str(image)).shape == (h, w, 3)
        text = image.with_name(image.stem + ".lines.txt").read_text()
        lines = text.splitlines(keepends=True)
        assert len(lines) == sum(flags)
        for line in lines:
            assert line.endswith(" \n"), "every number is followed by a space, as in the published files"
            values = line.split()
            assert len(values) % 2 == 0 and len(values) >= 4
            xs, ys = [float(v) for v in values[::2]], [int(v) for v in values[1::2]]
            assert all(np.isfinite(xs)) and ys[0] <= h and all(y % 10 == 0 for y in ys)
            assert np.all(np.diff(ys) == -10), "points every 10 pixels, bottom to top"
        seg = cv2.imread(str(culane / gt_line.split()[1][1:]), cv2.IMREAD_UNCHANGED)
        assert seg.shape == (h, w)
        assert set(np.unique(seg)) - {0} == {i + 1 for i, f in enumerate(flags) if f}
    assert any(sum(int(v) for v in line.split()[2:]) >= 3 for line in gt)


def test_culane_loads_with_the_culane_reader(culane):
    from mtl_edge.data.layouts import detect_layout, load_split

    assert detect_layout(culane) == "culane"
    for split, n in (("train", N), ("val", 4)):
        data = load_split(culane, "culane", split)
        assert len(data.frames) == n
        gt = (culane / "list" / f"{split}_gt.txt").read_text().splitlines()
        for frame, line in zip(data.frames, gt):
            assert frame.name == line.split()[0][1:]
            assert len(frame.lanes) == sum(int(v) for v in line.split()[2:])
            for lane in frame.lanes:
                assert lane.points[0, 1] > lane.points[-1, 1]  # near to far once read


# --------------------------------------------------------------------------------- MTSD


def test_mtsd_schema(mtsd):
    keys = (mtsd / "splits" / "train.txt").read_text().splitlines()
    assert len(keys) == len(set(keys)) == N
    labels: list[str] = []
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", key)
        assert cv2.imread(str(mtsd / "images" / f"{key}.jpg")).shape == (180, 320, 3)
        ann = json.loads((mtsd / "annotations" / f"{key}.json").read_text())
        assert list(ann) == ["width", "height", "ispano", "objects"]
        assert (ann["width"], ann["height"], ann["ispano"]) == (320, 180, False)
        for obj in ann["objects"]:
            assert list(obj) == ["key", "label", "bbox", "properties"]
            assert re.fullmatch(r"[a-z0-9]{22}", obj["key"])
            assert list(obj["bbox"]) == ["xmin", "ymin", "xmax", "ymax"]
            b = obj["bbox"]
            assert 0 <= b["xmin"] <= b["xmax"] <= 320 and 0 <= b["ymin"] <= b["ymax"] <= 180
            assert tuple(obj["properties"]) == PROPERTIES
            assert all(isinstance(v, bool) for v in obj["properties"].values())
            labels.append(obj["label"])
    assert set(labels) <= set(MTSD_LABELS.values()) | set(UNMAPPED_LABELS), "only signs are labelled"
    assert set(labels) & set(MTSD_LABELS.values()) and set(labels) & set(UNMAPPED_LABELS)


def test_mtsd_loads_with_the_mtsd_reader(mtsd):
    from mtl_edge.data.layouts import detect_layout, load_split
    from mtl_edge.data.layouts.mtsd import CATEGORIES
    from mtl_edge.data.tasks import category_table

    assert detect_layout(mtsd) == "mtsd"
    data = load_split(mtsd, "mtsd", "train")
    assert len(data.frames) == N and all(data.covers[f.name] == {"boxes"} for f in data.frames)
    table = category_table(CATEGORIES)
    resolved = [table.resolve(obj) for f in data.frames for obj in f.objects]
    assert ("signs", None) in resolved, "unmapped labels are ignore regions"
    assert any(r is not None and r[1] is not None for r in resolved)
    for f in data.frames:
        for obj in f.objects:
            if obj.category in UNMAPPED_LABELS:
                assert table.resolve(obj) == ("signs", None)


# --------------------------------------------------------------------------------- every layout


@pytest.mark.parametrize("layout", ["bdd100k", "culane", "mtsd"])
def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path, layout):
    _make(tmp_path / "a", layout, n=4, workers=1)
    _make(tmp_path / "b", layout, n=4, workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    _make(tmp_path / "c", layout, n=4, seed=SEED + 1)
    assert set(_digest(tmp_path / "a").values()).isdisjoint(
        v for k, v in _digest(tmp_path / "c").items() if k.endswith(".jpg")
    )


@pytest.mark.parametrize("layout", ["bdd100k", "culane", "mtsd"])
def test_resume_redoes_only_missing_items_and_a_rerun_does_nothing(tmp_path, layout):
    whole, part = tmp_path / "whole", tmp_path / "part"
    _make(whole, layout, n=4)
    assert _make(part, layout, n=3) == (3, 0)
    images = sorted(p for p in part.rglob("*.jpg"))
    images[1].write_bytes(b"")  # as if killed while writing it
    marker = sorted((part / STATE_DIR / "parts" / "train").glob("*.json")) if layout != "mtsd" else []
    if marker:
        marker[0].unlink()
    else:
        sorted((part / "annotations").glob("*.json"))[0].unlink()
    made, skipped = _make(part, layout, n=4)
    assert made in (2, 3) and made + skipped == 4
    assert _digest(part) == _digest(whole)
    before = {p: p.stat().st_mtime_ns for p in part.rglob("*") if p.is_file() and ".jpg" in p.name}
    assert _make(part, layout, n=4) == (0, 4)
    assert before == {p: p.stat().st_mtime_ns for p in part.rglob("*") if p.is_file() and ".jpg" in p.name}
    assert not list(part.rglob(".*.tmp*")), "no temp files may be left behind"


@pytest.mark.parametrize("layout", ["bdd100k", "culane", "mtsd"])
def test_the_other_split_is_added_beside_the_first(tmp_path, layout):
    _make(tmp_path, layout, n=3)
    train = _digest(tmp_path)
    assert _make(tmp_path, layout, n=2, split="val") == (2, 0)
    after = _digest(tmp_path)
    assert {k: v for k, v in after.items() if k in train} == train, "the train split is left as it was"
    from mtl_edge.data.layouts import load_split

    assert len(load_split(tmp_path, layout, "train").frames) == 3
    assert len(load_split(tmp_path, layout, "val").frames) == 2
    val_images = {k for k in after if k.endswith(".jpg")} - {k for k in train if k.endswith(".jpg")}
    assert len(val_images) == 2


def test_refuses_other_options_and_the_generated_layouts_folder(tmp_path):
    _make(tmp_path / "ds", "mtsd", n=1)
    with pytest.raises(ValueError, match=r"seed: 3 -> 4.*new --out"):
        _make(tmp_path / "ds", "mtsd", n=1, seed=4)
    with pytest.raises(ValueError, match=r"layout: 'mtsd' -> 'culane'"):
        generate_published(tmp_path / "ds", 1, PublishedOptions("culane", SEED, *SMALL), progress=False)
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "meta.json").write_text("{}")
    with pytest.raises(ValueError, match="generator's own layout"):
        _make(tmp_path / "gen", "bdd100k", n=1)
    with pytest.raises(ValueError, match="unknown split"):
        _make(tmp_path / "x", "mtsd", n=1, split="test")


def test_cli_writes_a_split_and_checks_its_options(tmp_path, capsys):
    from mtl_edge.cli import main

    out = tmp_path / "ds"
    argv = ["data", "synth", "--out", str(out), "--n", "2", "--size", "320x180", "--quiet", "--seed", "3"]
    assert main([*argv, "--layout", "mtsd", "--split", "val"]) == 0
    assert "mtsd val split: wrote 2 scenes" in capsys.readouterr().out
    assert len((out / "splits" / "val.txt").read_text().splitlines()) == 2
    assert main([*argv, "--layout", "mtsd", "--split", "val"]) == 0
    assert "wrote 0 scenes, kept 2" in capsys.readouterr().out
    assert main([*argv[:3], str(tmp_path / "g"), *argv[4:], "--split", "val"]) == 2
    assert "--split is for the published layouts" in capsys.readouterr().err
    assert main([*argv[:3], str(tmp_path / "c"), *argv[4:], "--layout", "bdd100k", "--clip", "2"]) == 2
    assert "--clip writes the generated layout only" in capsys.readouterr().err
    assert not (tmp_path / "g").exists() and not (tmp_path / "c").exists()
