"""DrivingDataset: supervise flags for partial labels, target contents, errors, collate."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from mtl_edge.data.dataset import HEADS, DrivingDataset, ImageReadError, collate
from mtl_edge.data.formats import write_drivable_mask, write_frames
from mtl_edge.data.labels import SIGN_CLASSES, VEHICLE_CLASSES, Box2D, FrameLabels, LaneLabel, ObjectLabel
from mtl_edge.data.splits import open_folder
from mtl_edge.data.transforms import build_transforms
from mtl_edge.deploy.letterbox import unletterbox_points

H, W = 60, 100
LANE_A = np.array([[10.0, 58.0], [40.0, 30.0], [55.0, 12.0]], dtype=np.float32)
LANE_A2 = np.array([[90.0, 58.0], [70.0, 20.0]], dtype=np.float32)


def obj(category: str, box: tuple[float, float, float, float], **kw) -> ObjectLabel:
    return ObjectLabel(category=category, box=Box2D(*box), **kw)


def write_image(path: Path, bgr: tuple[int, int, int] = (0, 0, 255)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((H, W, 3), bgr, dtype=np.uint8))


@pytest.fixture()
def partial(tmp_path: Path) -> dict[str, Path]:
    """A det-only file (a, b), a lanes-only file (a, c) and a drivable mask for a only."""
    images = tmp_path / "images"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(images / name)
    det = [
        FrameLabels(
            "a.jpg",
            objects=[
                obj("car", (1, 2, 30, 20)),
                obj("pedestrian", (40, 10, 50, 40)),
                obj("traffic sign", (60, 5, 70, 15), sign_type="speed_limit_50"),
                obj("traffic sign", (75, 5, 85, 15)),  # real BDD100K: no signType
                obj("truck", (5, 30, 50, 55), ignore=True),
                obj("traffic light", (90, 0, 95, 10)),
            ],
        ),
        FrameLabels("b.jpg"),  # no boxes, but its file is a detection file: a true negative
    ]
    lanes = [
        FrameLabels(
            "a.jpg",
            lanes=[
                LaneLabel(LANE_A, lane_type="single yellow", style="dashed"),
                LaneLabel(LANE_A2, lane_type="road curb", direction="vertical"),
            ],
        ),
        FrameLabels("c.jpg", lanes=[LaneLabel(LANE_A2)]),
    ]
    write_frames(det, tmp_path / "det.json")
    write_frames(lanes, tmp_path / "lanes.json")
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[30:, :50] = 1
    mask[30:, 50:] = 2
    write_drivable_mask(mask, tmp_path / "drivable" / "a.png")
    return {
        "images": images,
        "det": tmp_path / "det.json",
        "lanes": tmp_path / "lanes.json",
        "drivable": tmp_path / "drivable",
    }


def make(partial: dict[str, Path], **kw) -> DrivingDataset:
    return DrivingDataset(
        images=partial["images"], labels=[partial["det"], partial["lanes"]], drivable=partial["drivable"], **kw
    )


def by_name(ds: DrivingDataset) -> dict[str, dict]:
    return {t["name"]: t for t in (ds[i][1] for i in range(len(ds)))}


def test_supervise_flags_follow_the_label_files(partial: dict[str, Path]) -> None:
    ds = make(partial)
    assert len(ds) == 3 and ds.heads == HEADS == ("lanes", "vehicles", "signs", "drivable")
    flags = {n: t["supervises"].tolist() for n, t in by_name(ds).items()}
    assert flags == {
        "a.jpg": [True, True, True, True],
        "b.jpg": [False, True, True, False],
        "c.jpg": [True, False, False, False],
    }


def test_supervise_forces_heads_and_heads_select_targets(partial: dict[str, Path]) -> None:
    ds = make(partial, supervise={"signs": False, "lanes": True})
    flags = {n: t["supervises"].tolist() for n, t in by_name(ds).items()}
    assert flags["b.jpg"] == [True, True, False, False] and flags["a.jpg"] == [True, True, False, True]

    ds = make(partial, heads=("vehicles", "lanes"))
    t = by_name(ds)["a.jpg"]
    assert t["supervises"].tolist() == [True, True]
    assert t["head"].tolist() == [0, 0], "sign boxes are dropped when the signs head is not used"
    assert (t["drivable"] == 0).all()


def test_bad_heads_are_rejected(partial: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="heads"):
        make(partial, heads=("lanes", "pedestrians"))
    with pytest.raises(ValueError, match="supervise"):
        make(partial, supervise={"lane": False})


def test_target_contents(partial: dict[str, Path]) -> None:
    image, t = by_name_with_image(make(partial), "a.jpg")
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8 and image.shape == (3, H, W)
    # Written as BGR (0, 0, 255): red once converted to RGB.
    assert image[0].float().mean() > 240 and image[2].float().mean() < 15

    # Pedestrian and traffic light are dropped; car, typed sign, untyped sign, ignored truck kept.
    assert isinstance(t["boxes"], tv_tensors.BoundingBoxes) and t["boxes"].format.name == "XYXY"
    assert t["boxes"].tolist() == [[1, 2, 30, 20], [60, 5, 70, 15], [75, 5, 85, 15], [5, 30, 50, 55]]
    assert t["head"].tolist() == [0, 1, 1, 0]
    assert t["labels"].tolist() == [
        VEHICLE_CLASSES.index("car"),
        SIGN_CLASSES.index("speed_limit_50"),
        -1,
        VEHICLE_CLASSES.index("truck"),
    ]
    assert t["ignore"].tolist() == [False, False, True, True]
    assert t["labels"].dtype == t["head"].dtype == torch.int64 and t["ignore"].dtype == torch.bool

    # The vertical road curb is no lane marking (LaneRules' defaults); the lane is resampled along
    # its polyline, near to far, ending on its own end vertices.
    assert isinstance(t["lanes"], tv_tensors.KeyPoints) and t["lanes"].shape[0] == 1
    lane = t["lanes"][0][t["lane_valid"][0]].as_subclass(torch.Tensor)
    assert torch.allclose(lane[0], torch.from_numpy(LANE_A[0])) and torch.allclose(
        lane[-1], torch.from_numpy(LANE_A[-1])
    )
    assert (lane[1:] - lane[:-1]).norm(dim=1).max() <= 8.0 + 1e-4
    assert t["lane_type"].tolist() == [1] and t["lane_style"].tolist() == [1]
    assert t["lane_direction"].tolist() == [0]

    assert isinstance(t["drivable"], tv_tensors.Mask) and t["drivable"].dtype == torch.uint8
    assert t["drivable"][40, 10] == 1 and t["drivable"][40, 90] == 2 and t["drivable"][10, 10] == 0
    assert t["orig_size"] == (H, W) and t["letterbox"] == (1.0, 0, 0)


def by_name_with_image(ds: DrivingDataset, name: str):
    return next(ds[i] for i in range(len(ds)) if ds.frames[i].name == name)


def test_frames_without_some_labels_get_empty_targets(partial: dict[str, Path]) -> None:
    t = by_name(make(partial))
    assert t["b.jpg"]["boxes"].shape == (0, 4) and t["b.jpg"]["lanes"].shape[0] == 0
    assert t["c.jpg"]["boxes"].shape == (0, 4) and t["c.jpg"]["lanes"].shape[0] == 1
    assert (t["b.jpg"]["drivable"] == 0).all() and t["b.jpg"]["drivable"].shape == (H, W)


def test_a_lane_starting_off_the_image_is_cut_at_the_border(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "x.jpg")
    lane = np.array([[-5.0, 59.0], [50.0, 30.0], [W, 0.0]], dtype=np.float32)
    write_frames([FrameLabels("x.jpg", lanes=[LaneLabel(lane)])], tmp_path / "l.json")
    _, t = DrivingDataset(images=tmp_path / "images", labels=tmp_path / "l.json")[0]
    kept = t["lanes"][0][t["lane_valid"][0]].as_subclass(torch.Tensor)
    # The first segment (-5, 59) -> (50, 30) crosses x = 0 at y = 59 - 5 * 29 / 55.
    assert kept[0].tolist() == pytest.approx([0.0, 59 - 5 * 29 / 55], abs=0.01)
    assert (kept[:, 0] >= 0).all() and (kept[:, 0] <= W).all() and len(kept) > 3


def test_drivable_polygons_supervise_and_rasterize(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "p.jpg")
    poly = np.array([[0, 30], [99, 30], [99, 59], [0, 59]], dtype=np.float32)
    write_frames([FrameLabels("p.jpg", drivable_polygons=[(poly, "direct")])], tmp_path / "l.json")
    ds = DrivingDataset(images=tmp_path / "images", labels=tmp_path / "l.json")
    _, t = ds[0]
    assert t["supervises"].tolist() == [False, False, False, True]
    assert t["drivable"][45, 50] == 1 and t["drivable"][10, 50] == 0


def test_open_folder_reads_the_generator_layout(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "0001.jpg")
    write_frames(
        [FrameLabels("0001.jpg", objects=[obj("bus", (1, 1, 20, 20))], lanes=[LaneLabel(LANE_A)])],
        tmp_path / "labels.json",
    )
    write_drivable_mask(
        np.repeat(np.uint8([0, 1]), [H // 2, H - H // 2])[:, None].repeat(W, 1), tmp_path / "drivable" / "0001.png"
    )
    ds = open_folder(tmp_path, transforms=build_transforms((64, 64), train=False))
    image, t = ds[0]
    assert image.shape == (3, 64, 64)
    assert t["supervises"].all() and t["labels"].tolist() == [VEHICLE_CLASSES.index("bus")]
    with pytest.raises(ValueError, match="not a dataset folder in any supported layout"):
        open_folder(tmp_path / "images")


def test_letterbox_params_map_predictions_back(partial: dict[str, Path]) -> None:
    ds = make(partial, transforms=build_transforms((128, 128), train=False))
    image, t = by_name_with_image(ds, "a.jpg")
    assert image.shape == (3, 128, 128) and t["drivable"].shape == (128, 128)
    assert t["orig_size"] == (H, W)
    back = unletterbox_points(t["lanes"][0][t["lane_valid"][0]].as_subclass(torch.Tensor), t["letterbox"])
    assert (back[0] - torch.from_numpy(LANE_A[0])).abs().max() < 0.5
    assert (back[-1] - torch.from_numpy(LANE_A[-1])).abs().max() < 0.5


def test_missing_image_names_image_and_label_file(partial: dict[str, Path]) -> None:
    (partial["images"] / "c.jpg").unlink()
    with pytest.raises(FileNotFoundError) as err:
        make(partial)
    message = str(err.value)
    assert str(partial["images"] / "c.jpg") in message and str(partial["lanes"]) in message


def test_image_deleted_after_construction(partial: dict[str, Path]) -> None:
    ds = make(partial)
    (partial["images"] / "b.jpg").unlink()
    index = [f.name for f in ds.frames].index("b.jpg")
    with pytest.raises(FileNotFoundError, match="b.jpg.*det.json"):
        ds[index]


def test_corrupt_image_names_the_file(partial: dict[str, Path]) -> None:
    (partial["images"] / "a.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    ds = make(partial)
    index = [f.name for f in ds.frames].index("a.jpg")
    with pytest.raises(ImageReadError, match=r"a\.jpg.*cannot decode"):
        ds[index]


def test_mask_size_mismatch_is_reported(partial: dict[str, Path]) -> None:
    write_drivable_mask(np.zeros((10, 10), dtype=np.uint8), partial["drivable"] / "a.png")
    ds = make(partial)
    with pytest.raises(ValueError, match="pixel for pixel"):
        ds[[f.name for f in ds.frames].index("a.jpg")]


def test_collate_shapes(partial: dict[str, Path]) -> None:
    ds = make(partial, transforms=build_transforms((64, 96), train=True))
    torch.manual_seed(0)
    batch = [ds[i] for i in range(len(ds))]
    images, targets = collate(batch)
    assert images.shape == (3, 3, 64, 96) and images.dtype == torch.uint8
    assert targets["lanes"].shape[:2] == (3, 1) and targets["lane_valid"].shape == targets["lanes"].shape[:3]
    assert targets["lane_type"].shape == (3, 1) and targets["lane_style"].shape == (3, 1)
    assert targets["drivable"].shape == (3, 64, 96) and targets["supervises"].shape == (3, 4)
    assert targets["orig_size"].tolist() == [[H, W]] * 3 and targets["letterbox"].shape == (3, 3)
    assert len(targets["boxes"]) == len(targets["labels"]) == len(targets["name"]) == 3
    for boxes, labels, heads, ignore in zip(targets["boxes"], targets["labels"], targets["head"], targets["ignore"]):
        assert len(boxes) == len(labels) == len(heads) == len(ignore)
    b = targets["name"].index("b.jpg")
    assert not targets["lane_valid"][b].any() and (targets["lane_type"][b] == -1).all()

    fixed = functools.partial(collate, max_lanes=6, max_points=64)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=fixed)
    images, targets = next(iter(loader))
    assert images.shape == (2, 3, 64, 96) and targets["lanes"].shape == (2, 6, 64, 2)
    with pytest.raises(ValueError, match="max_lanes=0"):
        collate(batch, max_lanes=0)


def test_collate_needs_one_image_size(partial: dict[str, Path]) -> None:
    ds = make(partial)
    other = (tv_tensors.Image(torch.zeros(3, 10, 10, dtype=torch.uint8)), ds[1][1])
    with pytest.raises(ValueError, match="build_transforms"):
        collate([ds[0], other])


def test_bdd100k_2020_mask_coding(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "x.jpg")
    write_frames([FrameLabels("x.jpg", objects=[obj("car", (1, 1, 9, 9))])], tmp_path / "det.json")
    mask = np.full((H, W), 2, dtype=np.uint8)  # 2020 coding: 2 background, 0 direct, 1 alternative
    mask[40:, :50], mask[40:, 50:] = 0, 1
    write_drivable_mask(mask, tmp_path / "masks" / "x.png")
    ds = DrivingDataset(
        images=tmp_path / "img", labels=tmp_path / "det.json", drivable=tmp_path / "masks", drivable_coding="2020"
    )
    d = ds[0][1]["drivable"]
    assert d[10, 10] == 0 and d[50, 10] == 1 and d[50, 90] == 2
