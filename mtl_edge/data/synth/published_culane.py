"""Generated scenes in the CULane layout.

Sources read (conventions followed, nothing copied): the CULane release (the authors' page
xingangpan.github.io/projects/CULane.html; list.tar.gz and annotations_new.tar.gz) as its users
quote it: voldemortX/pytorch-auto-drive ``docs/datasets/CULANE.md`` (label format, list lines) and
XingangPan/seg_label_generate ``listGen.sh`` (it writes ``list/train_gt.txt`` and the
``laneseg_label_w16`` PNGs):

* frames ``driver_XX_YYframe/<MMDDHHMM_NNNN>.MP4/<frame:05d>.jpg``, 1640x590, numbered every
  YY frames of the video; beside each, ``<frame>.lines.txt``: one line per lane marking, its
  points as ``x y`` pairs every 10 pixels of y from the bottom of the image up, each number
  followed by a space (x with 6 significant digits, y whole), only for the up to 4 markings
  around the ego lane (left-left, left, right, right-right), left to right;
* ``laneseg_label_w16/<same path>.png``: those markings drawn 16 pixels wide (at 1640 wide)
  with ids 1 to 4 by slot, 0 elsewhere;
* ``list/train_gt.txt`` and ``list/val_gt.txt``: ``/<image> /<seg png> e1 e2 e3 e4`` per frame,
  e the 0/1 existence of each slot; ``list/train.txt`` and ``list/val.txt``: ``/<image>``.

Train frames come from ``driver_23_30frame``, val frames from ``driver_161_90frame``, in
videos of :data:`FRAMES_PER_VIDEO` frames (the scenes of one video are independent draws).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ...fileio import atomic_write, atomic_write_bytes
from .published import (
    PublishedOptions,
    along_road,
    encode_jpeg,
    encode_png,
    item_rng,
    part_path,
    read_part,
    scene_seed,
    write_part,
)
from .render import render
from .scene import Scene, sample_scene

#: Folder of each split's videos and the frame step of that driver's recordings.
DRIVERS: dict[str, tuple[str, int]] = {"train": ("driver_23_30frame", 30), "val": ("driver_161_90frame", 90)}
FRAMES_PER_VIDEO = 5
#: Lane width of the segmentation labels at 1640 pixels wide (the "w16" of the folder name).
SEG_WIDTH_1640 = 16
SEG_DIR = "laneseg_label_w16"
_VIDEO = 3  # item_rng purpose


def frame_path(seed: int, split: str, index: int) -> str:
    """``driver_23_30frame/05151649_0422.MP4/00030.jpg``-style path of item ``index``, fixed by seed and split."""
    driver, step = DRIVERS[split]
    video = index // FRAMES_PER_VIDEO
    rng = item_rng(seed, split, video, _VIDEO)
    month, day, hour, minute = 5, int(rng.integers(10, 29)), int(rng.integers(0, 24)), int(rng.integers(0, 60))
    name = f"{month:02d}{day:02d}{hour:02d}{minute:02d}_{video:04d}.MP4"
    return f"{driver}/{name}/{(index % FRAMES_PER_VIDEO) * step:05d}.jpg"


def item_files(out: Path, options: PublishedOptions, split: str, index: int) -> list[Path]:
    rel = frame_path(options.seed, split, index)
    image = out / rel
    return [
        image,
        image.with_name(image.stem + ".lines.txt"),
        out / SEG_DIR / rel.replace(".jpg", ".png"),
        part_path(out, split, index),
    ]


def slot_lines(scene: Scene) -> list[int | None]:
    """Indices into ``scene.road.lines`` of the left-left, left, right and right-right markings."""
    road = scene.road
    ego = next(
        (i for i in range(road.n_lanes) if road.lines[i].offset <= scene.ego_offset <= road.lines[i + 1].offset),
        None,
    )
    if ego is None:
        return [None] * 4
    return [i if 0 <= i < len(road.lines) else None for i in (ego - 1, ego, ego + 1, ego + 2)]


def row_points(uv: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """CULane points of a projected line (near to far): x at every 10th row, bottom up."""
    keep = [0]
    for i in range(1, len(uv)):  # the part that keeps rising in the image
        if uv[i, 1] < uv[keep[-1], 1] - 1e-6:
            keep.append(i)
    pts = uv[keep]
    if len(pts) < 2:
        return None
    bottom = min(float(pts[0, 1]), float(height))
    ys = np.arange(np.floor(bottom / 10.0) * 10.0, float(pts[-1, 1]), -10.0)
    if len(ys) == 0:
        return None
    xs = np.interp(ys, pts[::-1, 1], pts[::-1, 0])
    ok = (xs > -0.1 * width) & (xs < 1.1 * width) & (ys >= 0)
    # the longest run of rows in (or just beside) the image: the points stay 10 pixels apart
    best, start = (0, 0), None
    for i, good in enumerate([*ok, False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            best, start = max(best, (i - start, start)), None
    length, first = best
    if length < 2:
        return None
    return np.stack([xs[first : first + length], ys[first : first + length]], 1)


def lines_text(lanes: list[np.ndarray]) -> str:
    """The ``.lines.txt`` body: one lane a line, ``x y `` pairs."""
    return "".join("".join(f"{x:.6g} {int(round(y))} " for x, y in lane) + "\n" for lane in lanes)


def write_item(out: Path, options: PublishedOptions, split: str, index: int) -> None:
    """Render item ``index``; write its image, lane points, lane segmentation and (last) its part."""
    w, h = options.width, options.height
    rel = frame_path(options.seed, split, index)
    scene = sample_scene(scene_seed(options.seed, split, index), w, h)
    result = render(scene, rel)
    rf = scene.road.frame(scene.ego_s, scene.ego_offset, scene.ego_yaw)
    exist, lanes = [], []
    seg = np.zeros((h, w), np.uint8)
    thickness = max(1, int(round(SEG_WIDTH_1640 * w / 1640)))
    for slot, line_index in enumerate(slot_lines(scene)):
        points = None
        if line_index is not None:
            uv = along_road(scene, rf, scene.road.lines[line_index].offset, samples=240)
            points = None if uv is None else row_points(uv, w, h)
        exist.append(int(points is not None))
        if points is not None:
            lanes.append(points)
            cv2.polylines(seg, [np.round(points).astype(np.int32).reshape(-1, 1, 2)], False, slot + 1, thickness)
    files = item_files(out, options, split, index)
    atomic_write_bytes(files[0], encode_jpeg(result.image))
    text = lines_text(lanes)
    atomic_write(files[1], lambda f: f.write(text), text=True)
    atomic_write_bytes(files[2], encode_png(seg))
    write_part(out, split, index, {"image": "/" + rel, "exist": exist})


def finish(out: Path, options: PublishedOptions, split: str, n: int) -> None:
    """Write ``list/<split>_gt.txt`` and ``list/<split>.txt`` for items 0..n-1."""
    parts = [read_part(out, split, i) for i in range(n)]
    gt = "".join(
        f"{p['image']} /{SEG_DIR}{p['image'][:-4]}.png {' '.join(str(e) for e in p['exist'])}\n" for p in parts
    )
    plain = "".join(f"{p['image']}\n" for p in parts)
    atomic_write(out / "list" / f"{split}_gt.txt", lambda f: f.write(gt), text=True)
    atomic_write(out / "list" / f"{split}.txt", lambda f: f.write(plain), text=True)
