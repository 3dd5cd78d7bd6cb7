"""Write generated scenes in the layouts real datasets are published in, so the readers of
those layouts (``mtl_edge.data.layouts``) can be exercised without the real data.

``mtl-edge data synth --layout bdd100k|culane|mtsd --split train|val`` lands here. Each
layout's files and conventions are in its own module: :mod:`.published_bdd` (BDD100K 2020
release), :mod:`.published_culane` (CULane) and :mod:`.published_mtsd` (Mapillary Traffic
Sign Dataset v2). This module holds what they share: the options, item seeds and names,
and road projection helpers; :mod:`.published_run` drives them (``generate_published``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...fileio import atomic_write
from ..formats import LabelFormatError
from .camera import NEAR_CLIP
from .geometry import clip_polyline
from .render import LANE_LABEL_RANGE
from .road import RoadFrame
from .scene import Scene
from .writer import GENERATOR_VERSION, _encode_jpeg

#: Layouts written here (the generator's own layout is writer.py's "generated").
PUBLISHED_LAYOUTS: tuple[str, ...] = ("bdd100k", "culane", "mtsd")
SPLITS: tuple[str, ...] = ("train", "val")
#: Bumped when the same seed would write different files in a published layout.
PUBLISHED_VERSION = 1
#: Hidden folder of the generator's bookkeeping inside a published-layout dataset.
STATE_DIR = ".mtl-edge-synth"
#: Frame size of each layout when none is asked for (CULane frames are 1640x590).
DEFAULT_SIZE: dict[str, tuple[int, int]] = {"bdd100k": (1280, 720), "culane": (1640, 590), "mtsd": (1280, 720)}
#: Seed stream per split: train items draw the same scenes as the generated layout's items.
_SPLIT_STREAM = {"train": (), "val": (1,)}


@dataclass(frozen=True)
class PublishedOptions:
    """What a published-layout folder was made with; a resume or a second split must match."""

    layout: str
    seed: int
    width: int
    height: int
    generator_version: int = GENERATOR_VERSION
    published_version: int = PUBLISHED_VERSION


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def item_rng(seed: int, split: str, index: int, purpose: int) -> np.random.Generator:
    """A generator for one ``purpose`` of one item, independent of workers and of what was done."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, *_SPLIT_STREAM[split], 1000 + purpose]))


def scene_seed(seed: int, split: str, index: int) -> int:
    """Scene seed of item ``index``: for train the same as ``writer.item_seed(seed, index)``."""
    _check_split(split)
    return int(np.random.SeedSequence([seed, index, *_SPLIT_STREAM[split]]).generate_state(1)[0])


def part_path(out: Path, split: str, index: int) -> Path:
    """The bookkeeping file of one item (written last: it marks the item done)."""
    return out / STATE_DIR / "parts" / split / f"{index:06d}.json"


def write_part(out: Path, split: str, index: int, part: dict[str, Any]) -> None:
    """Atomically write the bookkeeping file of one item."""
    atomic_write(part_path(out, split, index), lambda f: json.dump(part, f), text=True)


def read_part(out: Path, split: str, index: int) -> dict[str, Any]:
    """The bookkeeping file of one item; a LabelFormatError naming it when unreadable."""
    path = part_path(out, split, index)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LabelFormatError(f"{path}: unreadable ({e}); delete it and run the same command again.") from e


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as compact JSON (the published files are one line, like these)."""
    atomic_write(path, lambda f: json.dump(data, f), text=True)


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """The frame as a JPEG, encoded as the generated layout's frames are."""
    return _encode_jpeg(rgb)


def encode_png(mask: np.ndarray) -> bytes:
    """A single-channel uint8 array as PNG bytes."""
    ok, buf = cv2.imencode(".png", mask)
    if not ok:
        raise OSError("OpenCV could not encode a PNG")
    return buf.tobytes()


# ---------------------------------------------------------------------------------------------
# Road geometry in pixels, shared by the layouts' lane labels.


def label_range(scene: Scene) -> float:
    """How far ahead (m) lanes are labelled: render.py's rule (less in fog and at night)."""
    far = LANE_LABEL_RANGE
    if scene.conditions.fog_visibility:
        far = min(far, 1.6 * scene.conditions.fog_visibility)
    if scene.conditions.time == "night":
        far = min(far, 70.0)
    return far


def along_road(scene: Scene, rf: RoadFrame, offset: float, samples: int = 96) -> np.ndarray | None:
    """Pixels [N, 2] of the road line at lateral ``offset``, near to far, unclipped (in front only)."""
    cam = scene.camera
    s = scene.ego_s + 1.0 + (label_range(scene) - 1.0) * np.linspace(0, 1, samples) ** 1.6
    s = s[s <= rf.s[-1]]
    uv, depth = cam.project(rf.ground(s, offset, 0.0, cam.mount_height))
    uv = uv[depth > 2 * NEAR_CLIP]
    return uv if len(uv) >= 2 else None


def across_road(scene: Scene, rf: RoadFrame, s: float, o0: float, o1: float, samples: int = 24) -> np.ndarray | None:
    """Pixels [N, 2] of the line across the road at arc ``s`` from offset ``o0`` to ``o1``."""
    cam = scene.camera
    offsets = np.linspace(o0, o1, samples)
    uv, depth = cam.project(rf.ground(np.full(samples, s), offsets, 0.0, cam.mount_height))
    return uv if bool(np.all(depth > 2 * NEAR_CLIP)) else None


def in_image(uv: np.ndarray | None, width: int, height: int, min_length: float = 10.0) -> np.ndarray | None:
    """The longest piece of ``uv`` inside the image, or None when under ``min_length`` pixels."""
    if uv is None:
        return None
    clipped = clip_polyline(uv, width, height)
    if clipped is None or np.linalg.norm(np.diff(clipped, axis=0), axis=1).sum() < min_length:
        return None
    return clipped.astype(np.float64)


def sparse_vertices(points: np.ndarray, tolerance: float, low: int = 3, high: int = 6) -> np.ndarray:
    """The fewest vertices (``low`` to ``high``, evenly spaced along the line) that keep the dense
    polyline ``points`` within ``tolerance`` pixels, as an annotator's clicks would."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    for k in range(low, high + 1):
        at = np.linspace(0.0, arc[-1], k)
        verts = np.stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])], 1)
        if _max_distance(points, verts) <= tolerance:
            return verts
    return verts


def _max_distance(points: np.ndarray, poly: np.ndarray) -> float:
    """Largest distance from any of ``points`` to the polyline ``poly``."""
    a, b = poly[:-1][None], poly[1:][None]  # [1, S, 2]
    p = points[:, None]  # [N, 1, 2]
    d = b - a
    t = np.clip(((p - a) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
    closest = a + t[..., None] * d
    return float(np.linalg.norm(p - closest, axis=-1).min(1).max())


# ---------------------------------------------------------------------------------------------
# The driver.
